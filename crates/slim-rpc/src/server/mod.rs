//! The server's side: [`Server`] accepts the sessions callers open to its application and
//! runs a handler per call.
//!
//! Build one with [`Server::builder`], registering handlers per method (or whole generated
//! services with [`ServerBuilder::add_service`]), then [`Server::serve`] an [`App`]. Every
//! session invitation the application receives is accepted (point-to-point or group, with
//! whatever reliability and MLS the caller chose); each session gets a reader that starts
//! each call (running it until it first waits, then in a task of its own, so a handler that
//! answers at once costs no task), routes the call's later frames to it by `rpc-id`, and
//! cancels it when the caller cancels, the deadline passes (`DEADLINE_EXCEEDED`), the
//! session ends or the server shuts down. Unknown methods get `UNIMPLEMENTED`.
//!
//! Layout: this file the server and its builder; `handler.rs` handlers as stored;
//! `context.rs` the handler's [`Context`]; `sink.rs` how responses are sent;
//! `session.rs` the per-session reader; `call.rs` one call's execution;
//! `idempotency.rs` the idempotency-key cache.

mod call;
mod context;
mod handler;
mod idempotency;
mod session;
mod sink;

pub use context::Context;
pub use idempotency::IdempotencyConfig;
pub use sink::{RawSink, ResponseSink};

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use slim_client::{App, Name, SessionError};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::codec::Codec;
use crate::status::Status;
use crate::streaming::Streaming;
use crate::wire::Method;
use handler::Handler;
use idempotency::IdempotencyCache;

/// Settings of a [`Server`].
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Request messages queued per streaming call before the session's reader waits for the
    /// handler (holding back the other calls of that session). Default 256.
    pub request_buffer: usize,
    /// Calls running at once per session; more are refused with `RESOURCE_EXHAUSTED`.
    /// Default 10 000.
    pub max_calls_per_session: usize,
    /// Finished call ids remembered per session, so late frames of a finished call (for
    /// example upstream's redundant second end-of-stream) cannot start it again.
    /// Default 4096.
    pub finished_memory: usize,
    /// The idempotency-key cache.
    pub idempotency: IdempotencyConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            request_buffer: 256,
            max_calls_per_session: 10_000,
            finished_memory: 4096,
            idempotency: IdempotencyConfig::default(),
        }
    }
}

/// A set of methods that registers itself on a server (what the generated code implements
/// for each protobuf service).
pub trait Service {
    /// Adds the service's methods.
    fn register(self, server: ServerBuilder) -> ServerBuilder;
}

/// Registers handlers, then builds a [`Server`].
///
/// ```no_run
/// # async fn demo(app: slim_client::App) {
/// use bytes::Bytes;
/// use slim_rpc::{Method, RawCodec, Server, Status};
///
/// let server = Server::builder()
///     .unary::<RawCodec, _, _>(Method::new("interop.Echo", "Say"), |request: Bytes, _context| async move {
///         Ok::<_, Status>(Bytes::from([&b"echo:"[..], &request].concat()))
///     })
///     .build();
/// server.serve(app).await.expect("serves until the app closes");
/// # }
/// ```
#[derive(Debug, Default)]
pub struct ServerBuilder {
    handlers: HashMap<String, HashMap<String, Handler>>,
    config: ServerConfig,
}

impl ServerBuilder {
    /// Replaces the settings.
    pub fn config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    /// Adds a service (generated code).
    pub fn add_service(self, service: impl Service) -> Self {
        service.register(self)
    }

    fn add(mut self, method: Method, handler: Handler) -> Self {
        self.handlers
            .entry(method.service().to_owned())
            .or_default()
            .insert(method.method().to_owned(), handler);
        self
    }

    /// A unary method: one request, one response.
    pub fn unary<C, F, Fut>(self, method: Method, handler: F) -> Self
    where
        C: Codec,
        F: Fn(C::Decode, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<C::Encode, Status>> + Send + 'static,
    {
        self.add(method, Handler::unary::<C, F, Fut>(handler))
    }

    /// A server-streaming method: one request, responses sent through the sink.
    pub fn server_streaming<C, F, Fut>(self, method: Method, handler: F) -> Self
    where
        C: Codec,
        F: Fn(C::Decode, Context, ResponseSink<C::Encode>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Status>> + Send + 'static,
    {
        self.add(method, Handler::server_streaming::<C, F, Fut>(handler))
    }

    /// A client-streaming method: a request stream, one response.
    pub fn client_streaming<C, F, Fut>(self, method: Method, handler: F) -> Self
    where
        C: Codec,
        F: Fn(Streaming<C::Decode>, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<C::Encode, Status>> + Send + 'static,
    {
        self.add(method, Handler::client_streaming::<C, F, Fut>(handler))
    }

    /// A bidirectional streaming method.
    pub fn streaming<C, F, Fut>(self, method: Method, handler: F) -> Self
    where
        C: Codec,
        F: Fn(Streaming<C::Decode>, Context, ResponseSink<C::Encode>) -> Fut
            + Send
            + Sync
            + 'static,
        Fut: Future<Output = Result<(), Status>> + Send + 'static,
    {
        self.add(method, Handler::streaming::<C, F, Fut>(handler))
    }

    /// Builds the server.
    pub fn build(self) -> Server {
        Server {
            shared: Arc::new(Shared {
                idempotency: IdempotencyCache::new(self.config.idempotency.clone()),
                handlers: self.handlers,
                config: self.config,
                stop: CancellationToken::new(),
                tasks: TaskTracker::new(),
            }),
        }
    }
}

/// What every session reader and call of a server shares.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Service, then method.
    handlers: HashMap<String, HashMap<String, Handler>>,
    config: ServerConfig,
    idempotency: Arc<IdempotencyCache>,
    /// Cancelled by [`Server::shutdown`]: every call and session reader stops.
    stop: CancellationToken,
    tasks: TaskTracker,
}

impl Shared {
    pub fn handler(&self, method: &Method) -> Option<&Handler> {
        self.handlers.get(method.service())?.get(method.method())
    }
}

/// Why [`Server::serve`] stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The extra name could not be subscribed at the node.
    #[error("cannot serve under {name}: {error}")]
    Subscribe {
        /// The name.
        name: Name,
        /// What the node or client said.
        error: slim_client::dataplane::SubscribeError,
    },
}

/// An RPC server: handlers by method. Cheap to clone; clones share the handlers, the
/// idempotency cache and the shutdown.
#[derive(Clone, Debug)]
pub struct Server {
    shared: Arc<Shared>,
}

impl Server {
    /// Starts registering handlers.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// Serves every session opened to `app` until the application closes or
    /// [`Server::shutdown`] is called. Callers reach it by the application's name.
    pub async fn serve(&self, app: App) -> Result<(), ServeError> {
        loop {
            let accepted = tokio::select! {
                () = self.shared.stop.cancelled() => break,
                accepted = app.accept() => accepted,
            };
            match accepted {
                Ok(session) => {
                    let shared = self.shared.clone();
                    self.shared
                        .tasks
                        .spawn(session::serve_session(session, shared));
                }
                Err(SessionError::AppClosed) => break,
                Err(error) => tracing::debug!(%error, "accept failed"),
            }
        }
        Ok(())
    }

    /// Serves like [`Server::serve`], and also answers to `name` (a service name other than
    /// the application's own, as upstream's `Server::new(app, base_name)`).
    pub async fn serve_as(&self, app: App, name: Name) -> Result<(), ServeError> {
        app.add_name(name.clone())
            .await
            .map_err(|error| ServeError::Subscribe { name, error })?;
        self.serve(app).await
    }

    /// Stops accepting sessions, cancels every running call (their callers get
    /// `UNAVAILABLE`) and waits until every handler returned.
    pub async fn shutdown(&self) {
        self.shared.stop.cancel();
        self.shared.tasks.close();
        self.shared.tasks.wait().await;
    }
}
