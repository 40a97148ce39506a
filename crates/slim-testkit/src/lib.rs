//! Test kit for process-level tests of the `slim` binary (dev-only).
//!
//! - [`process`]: [`NodeProcess`] starts a `slim` binary with a generated configuration on
//!   free ports, waits (bounded) for its "listening" lines, kills it on drop, and can restart
//!   it on the same ports. The binary's path is passed in: a crate's own tests get it from
//!   `env!("CARGO_BIN_EXE_slim")`, which is why the node's process tests live in
//!   `crates/slim-node/tests/`.
//! - [`pki`]: a throwaway CA with server and client certificates as PEM files.
//! - [`clients`]: data-plane clients with test-friendly settings and polling helpers that
//!   wait for a condition with a deadline instead of sleeping.
//! - [`raw`]: a raw gRPC peer that sends arbitrary bytes, for bad-input tests.
//! - [`scrape`]: reads the node's Prometheus endpoint.

#![forbid(unsafe_code)]

pub mod clients;
pub mod pki;
pub mod process;
pub mod raw;
pub mod scrape;

pub use process::{ClientSpec, NodeProcess, NodeSpec, ServerSpec, slim_node_binary};
