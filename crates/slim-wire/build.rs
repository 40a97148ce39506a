//! Generates the prost types for `dataplane.proto.v1` with protox, a pure-Rust protobuf
//! compiler, so building needs no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/dataplane/v1/data_plane.proto";
    println!("cargo:rerun-if-changed={proto}");
    let descriptors = protox::compile([proto], ["proto"])?;
    prost_build::Config::new()
        // Payloads and MLS blobs are forwarded without copying.
        .bytes(["."])
        .compile_fds(descriptors)?;
    Ok(())
}
