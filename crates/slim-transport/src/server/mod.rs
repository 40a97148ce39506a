//! The data-plane server: listens on TCP or a Unix socket (optionally TLS), serves
//! `DataPlaneService/OpenChannel` over HTTP/2, negotiates each stream and hands the
//! resulting [`Link`] to a [`LinkHandler`].
//!
//! The HTTP/2 side is the `h2` crate driven by hand rather than tonic's server: each
//! connection is one task that reads the socket, runs the handler's work for its links and
//! writes their queues (see `connection.rs` for why: two wake-ups per crossing of a node
//! instead of four). Dialed links are driven the same way (`client`).
//!
//! Layout: this file binds, serves and negotiates; `accept.rs` is the accept loop (TLS
//! handshakes, socket options); `connection.rs` serves one connection, with the shared
//! HTTP/2 parts of [`crate::http2`].

mod accept;
mod connection;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use slim_wire::Frame;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_stream::StreamExt;
use tonic::Status;

use crate::codec::{MacSlot, OutFrame};
use crate::config::{ConfigError, ServerConfig, ServerKeepalive};
use crate::endpoint::Endpoint;
use crate::http2::grpc::GrpcRecv;
use crate::io::QuickAckSwitch;
use crate::link::{Direction, Link, Socket};
use crate::local::LocalNode;
use crate::negotiate::{self, NegotiationError, ServerLinkParams};
use crate::queue::LinkSender;
use crate::{metrics, tls};

/// What a [`LinkHandler`] returns for a link: the work that reads it, typically a loop over
/// [`LinkReceiver::recv_batch`] that ends when the link does.
pub type LinkWork = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Receives every link a server negotiates.
pub trait LinkHandler: Send + Sync + 'static {
    /// A stream was accepted and negotiated: register the link and return the work that
    /// reads it. The server runs that work on the link's connection task, next to the HTTP/2
    /// connection that feeds it, so received frames reach it without crossing tasks; it must
    /// not block the thread (await instead), and should run until the link ends (a handler
    /// that reads the link elsewhere returns a finished future).
    fn on_link(&self, link: Link) -> LinkWork;
}

/// Why a server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The TLS configuration could not be built.
    #[error("tls: {0}")]
    Tls(#[from] tls::TlsError),
    /// The endpoint could not be bound.
    #[error("cannot listen on {endpoint}: {source}")]
    Bind {
        /// The configured endpoint.
        endpoint: String,
        /// The OS error.
        source: std::io::Error,
    },
}

pub(super) enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener, PathBuf),
}

/// A bound, not yet serving, data-plane server.
pub struct Server {
    config: ServerConfig,
    listener: Listener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    local_endpoint: String,
    local_addr: Option<SocketAddr>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_endpoint", &self.local_endpoint)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Validates `config`, builds TLS and binds the endpoint. Port 0 binds a free port; see
    /// [`Server::local_endpoint`] for the real one.
    pub async fn bind(
        config: ServerConfig,
        local: LocalNode,
        handler: Arc<dyn LinkHandler>,
    ) -> Result<Server, ServerError> {
        config.validate()?;
        let endpoint = config.parsed_endpoint()?;
        let tls = match &config.tls {
            Some(settings) if settings.enabled() => Some(tokio_rustls::TlsAcceptor::from(
                tls::server_config(settings, local.post_quantum)?,
            )),
            _ => None,
        };
        let bind_error = |source| ServerError::Bind {
            endpoint: config.endpoint.clone(),
            source,
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let (listener, local_endpoint, local_addr) = match &endpoint {
            Endpoint::Tcp { host, port, .. } => {
                let listener = TcpListener::bind((host.as_str(), *port))
                    .await
                    .map_err(bind_error)?;
                let addr = listener.local_addr().map_err(bind_error)?;
                (
                    Listener::Tcp(listener),
                    format!("{scheme}://{addr}"),
                    Some(addr),
                )
            }
            Endpoint::Unix(path) => {
                accept::remove_stale_socket(path);
                let listener = UnixListener::bind(path).map_err(bind_error)?;
                (
                    Listener::Unix(listener, path.clone()),
                    format!("unix://{}", path.display()),
                    None,
                )
            }
        };
        let params = ServerLinkParams {
            node_id: local.node_id.clone(),
            deployment_name: local.deployment_name.clone(),
            post_quantum: local.post_quantum,
            require_header_mac: config.require_header_mac,
        };
        let h2 = &config.http2;
        let mut http2 = h2::server::Builder::new();
        http2
            .initial_window_size(h2.initial_stream_window_size)
            .initial_connection_window_size(h2.initial_connection_window_size)
            .max_frame_size(h2.max_frame_size)
            .max_concurrent_streams(config.max_concurrent_streams);
        let shared = Arc::new(Shared {
            params,
            handler,
            http2,
            keepalive: config.keepalive.clone(),
            negotiation_timeout: Duration::from_secs(config.negotiation_timeout_secs),
            max_frame_bytes: config.max_frame_bytes(),
            queue_capacity: config.queue_capacity,
            strict: config.require_header_mac,
        });
        Ok(Server {
            config,
            listener,
            tls,
            local_endpoint,
            local_addr,
            shared,
        })
    }

    /// Where the server listens, as a dialable endpoint (`http://127.0.0.1:46357`,
    /// `https://...`, `unix:///path`), with the real port when 0 was configured.
    pub fn local_endpoint(&self) -> &str {
        &self.local_endpoint
    }

    /// The bound socket address (TCP only).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// Serves until `shutdown` completes, then stops accepting, asks every connection to
    /// finish (a graceful GOAWAY: links end when their owner closes them) and waits for them
    /// (callers bound that wait).
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), ServerError> {
        let Server {
            config,
            listener,
            tls,
            shared,
            ..
        } = self;
        let (tx, mut accepted) = mpsc::channel(64);
        let unix_path = match &listener {
            Listener::Unix(_, path) => Some(path.clone()),
            Listener::Tcp(_) => None,
        };
        let keepalive = Some(config.keepalive.time);
        let acceptor = tokio::spawn(accept::accept_loop(
            listener,
            tls,
            keepalive,
            config.tcp_quickack,
            tx,
        ));
        let (stop, stopped) = watch::channel(false);
        let mut connections = JoinSet::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                io = accepted.recv() => match io {
                    Some(io) => {
                        connections.spawn(connection::serve(io, shared.clone(), stopped.clone()));
                    }
                    None => break,
                },
                // Reap finished connections so the set stays the size of the open ones.
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        acceptor.abort();
        let _ = stop.send(true);
        while connections.join_next().await.is_some() {}
        if let Some(path) = unix_path {
            let _ = std::fs::remove_file(path);
        }
        Ok(())
    }
}

/// What every connection of one server needs.
struct Shared {
    params: ServerLinkParams,
    handler: Arc<dyn LinkHandler>,
    http2: h2::server::Builder,
    keepalive: ServerKeepalive,
    negotiation_timeout: Duration,
    max_frame_bytes: usize,
    queue_capacity: usize,
    strict: bool,
}

fn refuse(reason: &'static str, remote: &str, status: Status) -> Status {
    metrics::negotiation_failed("server", reason);
    tracing::warn!(%remote, reason, message = status.message(), "link negotiation failed");
    status
}

fn negotiation_status(error: &NegotiationError) -> Status {
    if error.is_permission_denied() {
        Status::permission_denied(error.to_string())
    } else {
        Status::invalid_argument(error.to_string())
    }
}

/// Reads the negotiation request (within the timeout), answers it and hands the link over.
async fn negotiate_link(
    shared: &Shared,
    slot: &MacSlot,
    remote: String,
    quickack: Option<QuickAckSwitch>,
    mut inbound: GrpcRecv,
    sender: &LinkSender,
) -> Result<Link, Status> {
    let first: Frame = match tokio::time::timeout(shared.negotiation_timeout, inbound.next()).await
    {
        Err(_) => {
            return Err(refuse(
                "timeout",
                &remote,
                Status::deadline_exceeded("link negotiation timed out"),
            ));
        }
        Ok(None) => {
            return Err(refuse(
                "closed",
                &remote,
                Status::cancelled("stream closed before link negotiation"),
            ));
        }
        Ok(Some(Err(status))) => return Err(refuse("stream_error", &remote, status)),
        Ok(Some(Ok(Err(error)))) => {
            return Err(refuse(
                "malformed",
                &remote,
                Status::invalid_argument(format!("first message: {error}")),
            ));
        }
        Ok(Some(Ok(Ok(frame)))) => frame,
    };
    let message = first.decode().map_err(|error| {
        refuse(
            "malformed",
            &remote,
            Status::invalid_argument(format!("first message: {error}")),
        )
    })?;
    let (negotiated, reply) =
        negotiate::respond(&shared.params, &message, &mut rand_core::OsRng)
            .map_err(|error| refuse(error.reason(), &remote, negotiation_status(&error)))?;
    let reply = Frame::from_message(&reply)
        .map_err(|error| Status::internal(format!("encoding negotiation reply: {error}")))?;
    // Nothing else was queued on this fresh link, so the reply always fits.
    let _ = sender.try_send(OutFrame::as_is(reply));
    Ok(Link::negotiated(
        negotiated,
        shared.strict,
        slot,
        inbound,
        sender.clone(),
        Socket {
            direction: Direction::Accepted,
            remote,
            quickack: quickack.as_ref(),
        },
    ))
}
