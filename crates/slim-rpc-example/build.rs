//! Generates the messages, the client and the server trait of `example.tools.v1` (no
//! `protoc` needed: slim-rpc-build compiles the `.proto` with protox).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    slim_rpc_build::compile_protos(&["proto/example/tools/v1/tools.proto"], &["proto"])?;
    Ok(())
}
