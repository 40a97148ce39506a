//! The data-plane server: listens on TCP or a Unix socket (optionally TLS), serves
//! `DataPlaneService/OpenChannel` with the frame codec, negotiates each stream and hands the
//! resulting [`Link`] to a [`LinkHandler`].
//!
//! Accepting is its own task: TLS handshakes run concurrently (bounded, with a timeout) so a
//! slow or silent client cannot stall the accept loop, and every TCP socket gets
//! `TCP_NODELAY`. The gRPC service is written by hand on `tonic::server::Grpc`; there is no
//! generated code because the codec carries raw frames, not prost messages.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use slim_wire::Frame;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{Semaphore, mpsc};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::codec::Streaming;
use tonic::{Request, Response, Status};

use crate::codec::{FrameCodec, InFrame, MacSlot, OPEN_CHANNEL_PATH, OutFrame};
use crate::config::{ConfigError, ServerConfig};
use crate::endpoint::Endpoint;
use crate::io::{AcceptedIo, Conn, RemoteAddr, ServerIo, tune_tcp};
use crate::link::{Direction, Link, LinkInfo, LinkReceiver};
use crate::local::LocalNode;
use crate::mac::InboundMac;
use crate::negotiate::{self, NegotiationError, ServerLinkParams};
use crate::queue::{self, LinkSender, ServerOutbound};
use crate::{metrics, tls};

/// How long a TLS handshake may take before the connection is dropped.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// TLS handshakes in progress at once; further connections wait in the kernel backlog.
const MAX_PENDING_HANDSHAKES: usize = 256;

/// Receives every link a server negotiates.
pub trait LinkHandler: Send + Sync + 'static {
    /// A stream was accepted and negotiated. Called on the server's task: register the link
    /// and spawn its work, do not block.
    fn on_link(&self, link: Link);
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
    /// The HTTP/2 server failed.
    #[error("server: {0}")]
    Serve(#[from] tonic::transport::Error),
}

enum Listener {
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
    service: DataPlaneService,
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
                remove_stale_socket(path);
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
        let service = DataPlaneService {
            shared: Arc::new(Shared {
                params,
                handler,
                negotiation_timeout: Duration::from_secs(config.negotiation_timeout_secs),
                max_frame_bytes: config.max_frame_bytes(),
                queue_capacity: config.queue_capacity,
                strict: config.require_header_mac,
            }),
        };
        Ok(Server {
            config,
            listener,
            tls,
            local_endpoint,
            local_addr,
            service,
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

    /// Serves until `shutdown` completes, then stops accepting and waits for open
    /// connections to finish (callers bound that wait; links end when their owner closes
    /// them).
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), ServerError> {
        let Server {
            config,
            listener,
            tls,
            service,
            ..
        } = self;
        let (tx, rx) = mpsc::channel(64);
        let unix_path = match &listener {
            Listener::Unix(_, path) => Some(path.clone()),
            Listener::Tcp(_) => None,
        };
        let keepalive = Some(config.keepalive.time);
        let acceptor = tokio::spawn(accept_loop(listener, tls, keepalive, tx));
        let incoming = ReceiverStream::new(rx).map(Ok::<_, std::io::Error>);

        let h2 = &config.http2;
        let mut builder = tonic::transport::Server::builder()
            .initial_stream_window_size(h2.initial_stream_window_size)
            .initial_connection_window_size(h2.initial_connection_window_size)
            .max_frame_size(h2.max_frame_size)
            .http2_adaptive_window(Some(h2.adaptive_window))
            .max_concurrent_streams(config.max_concurrent_streams)
            .http2_keepalive_interval(Some(config.keepalive.time))
            .http2_keepalive_timeout(Some(config.keepalive.timeout));
        if let Some(age) = config.keepalive.max_connection_age {
            builder = builder.max_connection_age(age);
        }
        let result = builder
            .serve_with_incoming_shutdown(service, incoming, shutdown)
            .await;
        acceptor.abort();
        if let Some(path) = unix_path {
            let _ = std::fs::remove_file(path);
        }
        Ok(result?)
    }
}

/// A socket file left by a previous process would make `bind` fail; remove it if it is a
/// socket (never a regular file).
fn remove_stale_socket(path: &std::path::Path) {
    use std::os::unix::fs::FileTypeExt;
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && meta.file_type().is_socket()
    {
        let _ = std::fs::remove_file(path);
    }
}

async fn accept_loop(
    listener: Listener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    keepalive: Option<Duration>,
    tx: mpsc::Sender<AcceptedIo>,
) {
    let handshakes = Arc::new(Semaphore::new(MAX_PENDING_HANDSHAKES));
    loop {
        let accepted = tokio::select! {
            () = tx.closed() => return,
            accepted = accept_one(&listener, keepalive) => accepted,
        };
        let (conn, remote) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                // Usually out of file descriptors: back off briefly instead of spinning.
                metrics::accept_error("accept");
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(acceptor) = tls.clone() else {
            if tx
                .send(AcceptedIo {
                    io: ServerIo::Plain(conn),
                    remote,
                })
                .await
                .is_err()
            {
                return;
            }
            continue;
        };
        let Ok(permit) = handshakes.clone().acquire_owned().await else {
            return;
        };
        let tx = tx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(conn)).await {
                Ok(Ok(stream)) => {
                    let _ = tx
                        .send(AcceptedIo {
                            io: ServerIo::Tls(Box::new(stream)),
                            remote,
                        })
                        .await;
                }
                Ok(Err(error)) => {
                    metrics::accept_error("tls_handshake");
                    tracing::warn!(remote = %remote.0, %error, "TLS handshake failed");
                }
                Err(_) => {
                    metrics::accept_error("tls_handshake_timeout");
                    tracing::warn!(remote = %remote.0, "TLS handshake timed out");
                }
            }
        });
    }
}

async fn accept_one(
    listener: &Listener,
    keepalive: Option<Duration>,
) -> std::io::Result<(Conn, RemoteAddr)> {
    match listener {
        Listener::Tcp(listener) => {
            let (stream, addr) = listener.accept().await?;
            if let Err(error) = tune_tcp(&stream, keepalive) {
                tracing::debug!(%error, "could not set socket options");
            }
            Ok((Conn::Tcp(stream), RemoteAddr(addr.to_string())))
        }
        Listener::Unix(listener, path) => {
            let (stream, _) = listener.accept().await?;
            Ok((
                Conn::Unix(stream),
                RemoteAddr(format!("unix://{}", path.display())),
            ))
        }
    }
}

struct Shared {
    params: ServerLinkParams,
    handler: Arc<dyn LinkHandler>,
    negotiation_timeout: Duration,
    max_frame_bytes: usize,
    queue_capacity: usize,
    strict: bool,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// The HTTP service: routes `OpenChannel` to the negotiation, refuses everything else.
#[derive(Clone)]
struct DataPlaneService {
    shared: Arc<Shared>,
}

impl tower_service::Service<http::Request<tonic::body::Body>> for DataPlaneService {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let shared = self.shared.clone();
        Box::pin(async move {
            if request.uri().path() != OPEN_CHANNEL_PATH {
                return Ok(Status::unimplemented("unknown method").into_http());
            }
            let slot = MacSlot::default();
            let mut grpc = tonic::server::Grpc::new(FrameCodec::new(slot.clone()))
                .max_decoding_message_size(shared.max_frame_bytes);
            Ok(grpc.streaming(OpenChannel { shared, slot }, request).await)
        })
    }
}

/// One `OpenChannel` call.
struct OpenChannel {
    shared: Arc<Shared>,
    slot: MacSlot,
}

impl tower_service::Service<Request<Streaming<InFrame>>> for OpenChannel {
    type Response = Response<ServerOutbound>;
    type Error = Status;
    type Future = BoxFuture<Result<Self::Response, Status>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Streaming<InFrame>>) -> Self::Future {
        Box::pin(accept_link(self.shared.clone(), self.slot.clone(), request))
    }
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

/// Answers `OpenChannel` with headers at once and negotiates on the open streams in a task of
/// its own: upstream clients send their negotiation request only after the response headers
/// arrived, so waiting for the request before answering would deadlock with them.
async fn accept_link(
    shared: Arc<Shared>,
    slot: MacSlot,
    request: Request<Streaming<InFrame>>,
) -> Result<Response<ServerOutbound>, Status> {
    let remote = request
        .extensions()
        .get::<RemoteAddr>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let inbound = request.into_inner();
    let (sender, outbound) = queue::bounded(shared.queue_capacity);
    let (failure_tx, failure_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        if let Err(status) = negotiate_link(&shared, &slot, remote, inbound, &sender).await {
            // Status first, then the last sender: the stream ends with this status.
            let _ = failure_tx.send(status);
        }
        drop(sender);
    });
    Ok(Response::new(ServerOutbound::new(outbound, failure_rx)))
}

/// Reads the negotiation request (within the timeout), answers it and hands the link over.
async fn negotiate_link(
    shared: &Shared,
    slot: &MacSlot,
    remote: String,
    mut inbound: Streaming<InFrame>,
    sender: &LinkSender,
) -> Result<(), Status> {
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
    if let Some(key) = &negotiated.mac_key {
        slot.install(key.clone());
    }
    // Nothing else was queued on this fresh link, so the reply always fits.
    let _ = sender.try_send(OutFrame::as_is(reply));

    let receiver = LinkReceiver::new(
        inbound,
        InboundMac::for_link(
            negotiated.mac_key.as_ref(),
            shared.strict,
            negotiated.connection_type,
        ),
        negotiated.link_id.clone(),
        None,
    );
    let info = LinkInfo {
        link_id: negotiated.link_id,
        direction: Direction::Accepted,
        remote,
        connection_type: negotiated.connection_type,
        peer: negotiated.peer,
        signed: negotiated.mac_key.is_some(),
        hybrid: negotiated.hybrid,
    };
    tracing::info!(
        link_id = %info.link_id,
        remote = %info.remote,
        connection_type = info.connection_type.as_str(),
        peer_node = %info.peer.node_id,
        signed = info.signed,
        hybrid = info.hybrid,
        "link accepted"
    );
    shared.handler.on_link(Link {
        info,
        sender: sender.clone(),
        receiver,
    });
    Ok(())
}
