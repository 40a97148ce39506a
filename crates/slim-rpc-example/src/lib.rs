//! An example of `slim-rpc-build`: the service `example.tools.v1.Tools`
//! (`proto/example/tools/v1/tools.proto`) compiled by `build.rs` into messages, a typed
//! client ([`tools::ToolsClient`]), a server trait ([`tools::Tools`]) and its wrapper
//! ([`tools::ToolsServer`]). The test `tests/codegen.rs` uses them through a `slim` node.
//!
//! ```no_run
//! use slim_rpc_example::tools::{ExecuteToolRequest, ToolsClient};
//!
//! # async fn demo(channel: slim_rpc::Channel) -> Result<(), slim_rpc::Status> {
//! let client = ToolsClient::new(channel).with_timeout(std::time::Duration::from_secs(5));
//! let request = ExecuteToolRequest { tool: "echo".into(), args: vec!["hi".into()] };
//! let response = client.execute_tool(request).await?;
//! println!("{}", response.output);
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

/// The generated code of `example.tools.v1`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod tools {
    include!(concat!(env!("OUT_DIR"), "/example.tools.v1.rs"));
}
