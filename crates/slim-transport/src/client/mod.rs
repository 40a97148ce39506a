//! Dialing: [`dial`] opens one link (connect, TLS, `OpenChannel`, negotiation), and
//! [`reconnect`] keeps one up, redialing with backoff until told to stop or refused for good.
//!
//! The HTTP/2 client is the `h2` crate driven by one task per link (`connection.rs`), which
//! reads the socket and writes the link's queue into the request stream: a frame a producer
//! queues reaches the socket with one wake-up, as on the server side.

mod connection;

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use rustls::pki_types::ServerName;
use slim_wire::Frame;
use tokio::time::Instant;
use tokio_stream::StreamExt;

use crate::backoff::Backoff;
use crate::codec::{FrameSigner, MacSlot, OPEN_CHANNEL_PATH, OutFrame};
use crate::config::{ClientConfig, ConfigError};
use crate::connector::{Connector, Target};
use crate::endpoint::Endpoint;
use crate::http2::grpc::{GrpcRecv, status_from_headers};
use crate::http2::{StreamEnd, StreamWriter, adopt};
use crate::io::ClientIo;
use crate::link::{Direction, Link, Socket};
use crate::local::LocalNode;
use crate::negotiate::{ClientHandshake, ClientLinkParams, ConnectionType, NegotiationError};
use crate::queue::StreamOutbound;
use crate::{metrics, queue, tls};

/// Why a dial failed.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// The link configuration is invalid (retrying cannot help).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The TLS configuration could not be built.
    #[error("tls: {0}")]
    Tls(#[from] tls::TlsError),
    /// The connection could not be established.
    #[error("connect to {endpoint}: {detail}")]
    Connect {
        /// The endpoint dialed.
        endpoint: String,
        /// What went wrong, with its causes.
        detail: String,
    },
    /// The server refused the stream (e.g. `PermissionDenied` for a peer it will not link
    /// with, `InvalidArgument` for a negotiation it did not accept).
    #[error("refused by {endpoint}: {status}")]
    Refused {
        /// The endpoint dialed.
        endpoint: String,
        /// The server's status.
        status: tonic::Status,
    },
    /// The server's negotiation reply broke a rule.
    #[error("negotiation with {endpoint}: {error}")]
    Negotiation {
        /// The endpoint dialed.
        endpoint: String,
        /// The rule.
        error: NegotiationError,
    },
    /// No reply within the negotiation timeout.
    #[error("negotiation with {0} timed out")]
    Timeout(String),
    /// The stream ended before the reply.
    #[error("{0} closed the stream during negotiation")]
    Closed(String),
}

impl DialError {
    /// True when redialing cannot succeed: the configuration is wrong, or the server refused
    /// us with `PermissionDenied` (upstream's signal to stop reconnecting).
    pub fn is_fatal(&self) -> bool {
        match self {
            DialError::Config(_) => true,
            DialError::Refused { status, .. } => status.code() == tonic::Code::PermissionDenied,
            DialError::Negotiation { error, .. } => error.is_permission_denied(),
            _ => false,
        }
    }

    /// Short label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            DialError::Config(_) => "config",
            DialError::Tls(_) => "tls",
            DialError::Connect { .. } => "connect",
            DialError::Refused { .. } => "refused",
            DialError::Negotiation { error, .. } => error.reason(),
            DialError::Timeout(_) => "timeout",
            DialError::Closed(_) => "closed",
        }
    }
}

/// The `OpenChannel` request head for a server at `base` (`http://host:port`).
fn open_channel_request(base: &str) -> Result<http::Request<()>, DialError> {
    let uri: http::Uri = format!("{base}{OPEN_CHANNEL_PATH}")
        .parse()
        .map_err(|e: http::uri::InvalidUri| ConfigError::new("endpoint", e.to_string()))?;
    let mut request = http::Request::new(());
    *request.method_mut() = http::Method::POST;
    *request.uri_mut() = uri;
    let headers = request.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/grpc"),
    );
    headers.insert(http::header::TE, http::HeaderValue::from_static("trailers"));
    Ok(request)
}

/// Formats an error with its chain of causes (the useful part often hides in `source()`).
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Opens one link: connects, negotiates, and returns it ready for frames.
/// `default_type` is used when the config leaves `connection_type` out.
pub async fn dial(
    config: &ClientConfig,
    local: &LocalNode,
    default_type: ConnectionType,
) -> Result<Link, DialError> {
    config.validate()?;
    let endpoint = config.parsed_endpoint()?;
    let use_tls = config.tls_enabled();
    let name = config.endpoint.clone();
    let connect_error = |error: &dyn std::error::Error| DialError::Connect {
        endpoint: name.clone(),
        detail: with_causes(error),
    };

    let target = match &endpoint {
        Endpoint::Tcp { host, port, .. } => Target::Tcp {
            host: host.clone(),
            port: *port,
        },
        Endpoint::Unix(path) => Target::Unix(path.clone()),
    };
    let tls = if use_tls {
        let host = match (&config.server_name, &endpoint) {
            (Some(name), _) => name.clone(),
            (None, Endpoint::Tcp { host, .. }) => host.clone(),
            (None, Endpoint::Unix(_)) => "localhost".to_owned(),
        };
        let server_name = ServerName::try_from(host)
            .map_err(|e| ConfigError::new("server_name", e.to_string()))?;
        let rustls_config = tls::client_config(&config.tls, local.post_quantum)?;
        Some((tokio_rustls::TlsConnector::from(rustls_config), server_name))
    } else {
        None
    };
    let connector = Connector {
        target,
        tls,
        tcp_keepalive: Some(config.keepalive.tcp_keepalive),
        tcp_quickack: config.tcp_quickack,
    };
    let (io, quickack) = tokio::time::timeout(config.connect_timeout, connector.connect())
        .await
        .map_err(|_| DialError::Connect {
            endpoint: name.clone(),
            detail: format!("no connection within {:?}", config.connect_timeout),
        })?
        .map_err(|e| connect_error(&e))?;
    let h2 = &config.http2;
    let (mut requests, conn) = h2::client::Builder::new()
        .initial_window_size(h2.initial_stream_window_size)
        .initial_connection_window_size(h2.initial_connection_window_size)
        .max_frame_size(h2.max_frame_size)
        .handshake::<ClientIo, Bytes>(io)
        .await
        .map_err(|e| connect_error(&e))?;

    let connection_type = config.connection_type.unwrap_or(default_type);
    let handshake = ClientHandshake::new(
        ClientLinkParams {
            link_id: config.link_id.clone(),
            connection_type,
            node_id: local.node_id.clone(),
            deployment_name: local.deployment_name.clone(),
            post_quantum: local.post_quantum,
            require_header_mac: config.require_header_mac,
        },
        &mut rand_core::OsRng,
    );
    let request = Frame::from_message(&handshake.request()).map_err(|e| DialError::Connect {
        endpoint: name.clone(),
        detail: format!("encoding negotiation request: {e}"),
    })?;
    let slot = MacSlot::default();
    let (sender, outbound) = queue::bounded(config.queue_capacity);
    // A fresh queue always has room for the first frame.
    let _ = sender.try_send(OutFrame::as_is(request));

    let deadline = Instant::now() + Duration::from_secs(config.negotiation_timeout_secs);
    let open = open_channel_request(&endpoint.uri(use_tls))?;
    let (response, stream) = requests
        .send_request(open, false)
        .map_err(|e| connect_error(&e))?;
    // Nothing else is ever requested on this connection: once the stream is done, it closes.
    drop(requests);
    // Driven by a task of its own until the link's reader adopts it (`http2::adopt`).
    let (host, connection) = adopt::hosted(connection::drive(
        conn,
        StreamWriter::new(
            stream,
            StreamOutbound::plain(outbound),
            FrameSigner::new(slot.clone()),
            StreamEnd::EndStream,
        ),
        config.keepalive.http2_keepalive,
        config.keepalive.timeout,
        name.clone(),
    ));
    tokio::spawn(host);
    let response = tokio::time::timeout_at(deadline, response)
        .await
        .map_err(|_| DialError::Timeout(name.clone()))?
        .map_err(|e| connect_error(&e))?;
    let refused = |status| DialError::Refused {
        endpoint: name.clone(),
        status,
    };
    if let Some(status) = status_from_headers(response.headers()) {
        // A trailers-only response: the server refused the stream outright.
        return Err(refused(status));
    }
    if response.status() != http::StatusCode::OK {
        return Err(refused(tonic::Status::unavailable(format!(
            "HTTP status {}",
            response.status()
        ))));
    }
    let mut inbound = GrpcRecv::new(response.into_body(), config.max_frame_bytes());
    let reply = match tokio::time::timeout_at(deadline, inbound.next()).await {
        Err(_) => return Err(DialError::Timeout(name)),
        Ok(None) => return Err(DialError::Closed(name)),
        Ok(Some(Err(status))) => return Err(refused(status)),
        Ok(Some(Ok(Err(error)))) => {
            return Err(DialError::Connect {
                endpoint: name,
                detail: format!("malformed negotiation reply: {error}"),
            });
        }
        Ok(Some(Ok(Ok(frame)))) => frame,
    };
    let reply = reply.decode().map_err(|e| DialError::Connect {
        endpoint: name.clone(),
        detail: format!("malformed negotiation reply: {e}"),
    })?;
    let negotiated = handshake.finish(&reply).map_err(|error| {
        metrics::negotiation_failed("client", error.reason());
        DialError::Negotiation {
            endpoint: name.clone(),
            error,
        }
    })?;
    let mut link = Link::negotiated(
        negotiated,
        config.require_header_mac,
        &slot,
        inbound,
        sender,
        Socket {
            direction: Direction::Dialed,
            remote: name,
            quickack: quickack.as_ref(),
        },
    );
    link.connection = Some(connection);
    Ok(link)
}

/// Keeps a link to `config.endpoint` up: dials, runs `session` with each link until it
/// returns (the link ended), and redials after the configured backoff. Returns only when a
/// dial fails for good ([`DialError::is_fatal`]) or the backoff gives up; to stop earlier,
/// drop or abort the future.
pub async fn reconnect<F, Fut>(
    config: ClientConfig,
    local: LocalNode,
    default_type: ConnectionType,
    mut session: F,
) -> DialError
where
    F: FnMut(Link) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut backoff = Backoff::new(config.backoff.clone());
    loop {
        match dial(&config, &local, default_type).await {
            Ok(link) => {
                backoff.reset();
                session(link).await;
                tracing::info!(endpoint = %config.endpoint, "link ended, reconnecting");
            }
            Err(error) if error.is_fatal() => {
                metrics::dial_failed(error.reason());
                tracing::error!(%error, "giving up on link");
                return error;
            }
            Err(error) => {
                metrics::dial_failed(error.reason());
                tracing::warn!(%error, "dial failed");
                let Some(delay) = backoff.next_delay() else {
                    tracing::error!(%error, "giving up on link after the configured attempts");
                    return error;
                };
                tokio::time::sleep(delay).await;
                continue;
            }
        }
        // The link was up and ended: wait one backoff step so a peer that accepts and then
        // drops us immediately is not redialed in a tight loop.
        if let Some(delay) = backoff.next_delay() {
            tokio::time::sleep(delay).await;
        }
        backoff.reset();
    }
}
