//! `slim-rpc-build`: generates typed SLIM RPC clients and server traits from `.proto`
//! service definitions, in a `build.rs`, in the style of `tonic-build`.
//!
//! The `.proto` files are compiled by `protox` (pure Rust: no `protoc` on the build
//! machine), messages by `prost-build`, and each `service` becomes, next to its messages:
//!
//! - `XClient`: a typed client over a [`slim_rpc::Channel`]; one async method per RPC
//!   (`client.execute_tool(request).await?`), plus an `_with` variant taking
//!   `&CallOptions` (timeout, metadata, idempotency key);
//! - `X`: a trait the server implements, one method per RPC (write them as `async fn`);
//! - `XServer<T>`: wraps an implementation for `ServerBuilder::add_service`.
//!
//! ```no_run
//! // build.rs
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     slim_rpc_build::compile_protos(&["proto/tools.proto"], &["proto"])?;
//!     Ok(())
//! }
//! ```
//!
//! ```ignore
//! // src/lib.rs
//! pub mod tools {
//!     include!(concat!(env!("OUT_DIR"), "/example.tools.rs"));
//! }
//! ```
//!
//! The generated code names only `::slim_rpc` and `::prost` (prost's derive needs it), so
//! the crate using it depends on `slim-rpc` and `prost`. Wire names are the proto's: the
//! service is its fully-qualified name (`example.tools.Tools`), methods keep their case
//! (`ExecuteTool`), so upstream's generated stubs call ours and the other way round.
//!
//! Layout: this file the builder; `generate.rs` the [`ServiceGenerator`].

#![forbid(unsafe_code)]

mod generate;

use std::path::{Path, PathBuf};

pub use generate::ServiceGenerator;

/// Why generating code failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A `.proto` file does not parse or does not check.
    #[error("cannot compile the .proto files: {0}")]
    Compile(#[from] protox::Error),
    /// Writing the generated code failed.
    #[error("cannot write the generated code: {0}")]
    Write(#[from] std::io::Error),
}

/// Compiles `protos` (looking for imports in `includes`) with clients and servers into
/// `$OUT_DIR`, one `<package>.rs` file per protobuf package, and tells cargo to rerun when
/// a file changes.
pub fn compile_protos(
    protos: &[impl AsRef<Path>],
    includes: &[impl AsRef<Path>],
) -> Result<(), BuildError> {
    configure().compile(protos, includes)
}

/// A builder with every option at its default (clients and servers on).
pub fn configure() -> Builder {
    Builder::default()
}

/// What to generate and where.
#[derive(Debug)]
pub struct Builder {
    client: bool,
    server: bool,
    out_dir: Option<PathBuf>,
    bytes: Vec<String>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            client: true,
            server: true,
            out_dir: None,
            bytes: Vec::new(),
        }
    }
}

impl Builder {
    /// Generate clients (`XClient`). Default true.
    pub fn build_client(mut self, enable: bool) -> Self {
        self.client = enable;
        self
    }

    /// Generate server traits and their `XServer` wrappers. Default true.
    pub fn build_server(mut self, enable: bool) -> Self {
        self.server = enable;
        self
    }

    /// Write to this folder instead of `$OUT_DIR`.
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.out_dir = Some(dir.into());
        self
    }

    /// Use `bytes::Bytes` for these `bytes` fields (prost-build paths, `"."` for all).
    pub fn bytes(mut self, paths: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.bytes.extend(paths.into_iter().map(Into::into));
        self
    }

    /// The prost-build configuration this builder stands for, to adjust further and pass
    /// to [`Builder::compile_with_config`].
    pub fn prost_config(&self) -> prost_build::Config {
        let mut config = prost_build::Config::new();
        if !self.bytes.is_empty() {
            config.bytes(&self.bytes);
        }
        if let Some(dir) = &self.out_dir {
            config.out_dir(dir);
        }
        config
    }

    /// Compiles `protos` with imports from `includes`.
    pub fn compile(
        self,
        protos: &[impl AsRef<Path>],
        includes: &[impl AsRef<Path>],
    ) -> Result<(), BuildError> {
        let config = self.prost_config();
        self.compile_with_config(config, protos, includes)
    }

    /// Compiles with a prost-build configuration of the caller's (its service generator is
    /// replaced by ours).
    pub fn compile_with_config(
        self,
        mut config: prost_build::Config,
        protos: &[impl AsRef<Path>],
        includes: &[impl AsRef<Path>],
    ) -> Result<(), BuildError> {
        for proto in protos {
            println!("cargo:rerun-if-changed={}", proto.as_ref().display());
        }
        let descriptors = protox::compile(protos, includes)?;
        config.service_generator(Box::new(ServiceGenerator::new(self.client, self.server)));
        config.compile_fds(descriptors)?;
        Ok(())
    }
}
