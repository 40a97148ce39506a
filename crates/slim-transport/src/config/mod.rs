//! Typed configuration of servers and client links, with documented defaults.
//!
//! The structs deserialize from the node's YAML (`services.<id>.dataplane.servers[]` and
//! `clients[]`) with upstream's key names where upstream has one; every field has a default,
//! so `{endpoint: ...}` alone is a valid entry. [`ServerConfig::validate`] and
//! [`ClientConfig::validate`] check what serde cannot and name the offending key relative to
//! the entry (the node prefixes the path of the entry).
//!
//! Layout: this file holds the link settings, `tls.rs` the TLS settings, `quickack.rs` when
//! links acknowledge TCP segments at once, `duration.rs` the `"5s"`-style duration parser.

pub mod duration;
mod quickack;
mod tls;

use std::time::Duration;

use serde::Deserialize;

pub use quickack::QuickAck;
pub use tls::{CaSource, ClientTlsConfig, ServerTlsConfig, TlsSource};

use crate::endpoint::{Endpoint, Scheme};
use crate::negotiate::ConnectionType;

/// Default data-plane port.
pub const DEFAULT_PORT: u16 = 46357;

/// A configuration value that is well-typed but wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct ConfigError {
    /// Path of the key relative to the checked struct (e.g. `endpoint`, `tls.source`).
    pub field: String,
    /// What is wrong with it.
    pub problem: String,
}

impl ConfigError {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        ConfigError {
            field: field.into(),
            problem: problem.into(),
        }
    }

    /// The same error under a parent key.
    pub fn under(self, parent: &str) -> Self {
        ConfigError {
            field: format!("{parent}.{}", self.field),
            problem: self.problem,
        }
    }
}

/// HTTP/2 tuning shared by servers and clients.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Http2Config {
    /// Initial per-stream flow-control window in bytes. Default 4 MiB: a link is one stream,
    /// and a small window makes the sender wait for WINDOW_UPDATEs at high rates.
    pub initial_stream_window_size: u32,
    /// Initial per-connection window in bytes. Default 8 MiB.
    pub initial_connection_window_size: u32,
    /// Largest HTTP/2 frame payload we accept, in bytes (16 KiB..16 MiB). Default 64 KiB.
    pub max_frame_size: u32,
    /// Grow windows by measured bandwidth-delay product. Not supported: links are driven
    /// with the `h2` crate, which has no such estimator, so `true` is refused; size the
    /// static windows above for the link's bandwidth × round trip instead. Default false.
    pub adaptive_window: bool,
}

impl Default for Http2Config {
    fn default() -> Self {
        Http2Config {
            initial_stream_window_size: 4 * 1024 * 1024,
            initial_connection_window_size: 8 * 1024 * 1024,
            max_frame_size: 64 * 1024,
            adaptive_window: false,
        }
    }
}

impl Http2Config {
    fn validate(&self) -> Result<(), ConfigError> {
        if !(16_384..=16_777_215).contains(&self.max_frame_size) {
            return Err(ConfigError::new(
                "http2.max_frame_size",
                "must be between 16384 and 16777215 bytes",
            ));
        }
        if self.initial_stream_window_size < 65_535 {
            return Err(ConfigError::new(
                "http2.initial_stream_window_size",
                "must be at least 65535 bytes",
            ));
        }
        if self.initial_connection_window_size < 65_535 {
            return Err(ConfigError::new(
                "http2.initial_connection_window_size",
                "must be at least 65535 bytes",
            ));
        }
        if self.adaptive_window {
            return Err(ConfigError::new(
                "http2.adaptive_window",
                "is not supported (links use static windows: raise initial_stream_window_size \
                 and initial_connection_window_size instead)",
            ));
        }
        Ok(())
    }
}

/// Server-side keepalive.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerKeepalive {
    /// Interval of HTTP/2 PING frames on idle connections. Default 120 s.
    #[serde(deserialize_with = "duration::deserialize")]
    pub time: Duration,
    /// How long to wait for a PING ack before closing. Default 20 s.
    #[serde(deserialize_with = "duration::deserialize")]
    pub timeout: Duration,
    /// Close connections older than this (graceful GOAWAY). Default: never (links are
    /// long-lived; upstream's 2 h age limit only forces reconnects).
    #[serde(deserialize_with = "duration::deserialize_opt")]
    pub max_connection_age: Option<Duration>,
}

impl Default for ServerKeepalive {
    fn default() -> Self {
        ServerKeepalive {
            time: Duration::from_secs(120),
            timeout: Duration::from_secs(20),
            max_connection_age: None,
        }
    }
}

/// One listening endpoint of the data plane.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Where to listen: `host:port` (port 0 picks a free port), `http://host:port`, or
    /// `unix:///path`. Default `127.0.0.1:46357`.
    pub endpoint: String,
    /// TLS. Absent (or `insecure: true`) = plaintext HTTP/2.
    pub tls: Option<ServerTlsConfig>,
    /// Refuse dialers that do not negotiate a header-MAC key, and drop unsigned frames.
    /// Default true (strict), as upstream.
    pub require_header_mac: bool,
    /// Close a stream whose first message is not a valid negotiation within this many
    /// seconds. Default 5.
    pub negotiation_timeout_secs: u64,
    /// Largest message accepted, in MiB (1..=4). Default 4.
    pub max_frame_size: u32,
    /// Frames queued per link before senders wait. Default 512.
    pub queue_capacity: usize,
    /// Streams one HTTP/2 connection may open at once. Default 100.
    pub max_concurrent_streams: u32,
    /// HTTP/2 tuning.
    pub http2: Http2Config,
    /// Keepalive.
    pub keepalive: ServerKeepalive,
    /// Accepted for upstream compatibility; only `true` is supported.
    pub http2_only: bool,
    /// Acknowledge every received TCP segment at once (`TCP_QUICKACK` after each read), for
    /// dialers that leave Nagle's algorithm on (upstream's applications and nodes: an upstream
    /// Python application's session round trip through the node is 88 ms without, 0.6 ms
    /// with). Default `auto`: until the dialer announces `TCP_NODELAY` in the link
    /// negotiation (see [`QuickAck`]).
    pub tcp_quickack: QuickAck,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            endpoint: format!("127.0.0.1:{DEFAULT_PORT}"),
            tls: None,
            require_header_mac: true,
            negotiation_timeout_secs: 5,
            max_frame_size: 4,
            queue_capacity: 512,
            max_concurrent_streams: 100,
            http2: Http2Config::default(),
            keepalive: ServerKeepalive::default(),
            http2_only: true,
            tcp_quickack: QuickAck::Auto,
        }
    }
}

impl ServerConfig {
    /// A plaintext server on `endpoint` with every other setting at its default.
    pub fn with_endpoint(endpoint: impl Into<String>) -> Self {
        ServerConfig {
            endpoint: endpoint.into(),
            ..ServerConfig::default()
        }
    }

    /// The parsed endpoint.
    pub fn parsed_endpoint(&self) -> Result<Endpoint, ConfigError> {
        Endpoint::parse(&self.endpoint).map_err(|e| ConfigError::new("endpoint", e.to_string()))
    }

    /// Checks everything serde could not.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let endpoint = self.parsed_endpoint()?;
        if let Endpoint::Tcp {
            scheme: Scheme::Https,
            ..
        } = endpoint
            && !self.tls_enabled()
        {
            return Err(ConfigError::new(
                "tls",
                "an https:// endpoint needs tls.source (a certificate and key)",
            ));
        }
        if let Some(tls) = &self.tls {
            tls.validate().map_err(|e| e.under("tls"))?;
        }
        validate_common(self.max_frame_size, self.negotiation_timeout_secs)?;
        if self.queue_capacity == 0 {
            return Err(ConfigError::new("queue_capacity", "must be at least 1"));
        }
        if !self.http2_only {
            return Err(ConfigError::new(
                "http2_only",
                "only HTTP/2 is supported (set true or leave out)",
            ));
        }
        self.http2.validate()
    }

    /// True when the server terminates TLS.
    pub fn tls_enabled(&self) -> bool {
        self.tls.as_ref().is_some_and(ServerTlsConfig::enabled)
    }

    /// The frame-size limit in bytes.
    pub fn max_frame_bytes(&self) -> usize {
        frame_bytes(self.max_frame_size)
    }
}

/// Client-side keepalive.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ClientKeepalive {
    /// TCP keepalive idle time. Default 60 s.
    #[serde(deserialize_with = "duration::deserialize")]
    pub tcp_keepalive: Duration,
    /// Interval of HTTP/2 PING frames. Default 60 s.
    #[serde(deserialize_with = "duration::deserialize")]
    pub http2_keepalive: Duration,
    /// How long to wait for a PING ack. Default 10 s.
    #[serde(deserialize_with = "duration::deserialize")]
    pub timeout: Duration,
    /// Ping even when no stream is open. Default false.
    pub keep_alive_while_idle: bool,
}

impl Default for ClientKeepalive {
    fn default() -> Self {
        ClientKeepalive {
            tcp_keepalive: Duration::from_secs(60),
            http2_keepalive: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
            keep_alive_while_idle: false,
        }
    }
}

/// How long to wait between reconnection attempts.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum BackoffConfig {
    /// The same delay every time (upstream's default: 2 s, unlimited).
    Fixed {
        /// Delay between attempts. Default 2 s.
        #[serde(
            default = "default_fixed_interval",
            deserialize_with = "duration::deserialize"
        )]
        interval: Duration,
        /// Give up after this many consecutive failures. Default: never.
        #[serde(default)]
        max_attempts: Option<u32>,
    },
    /// A delay growing by `factor` from `base` up to `max_delay`.
    Exponential {
        /// First delay. Default 100 ms.
        #[serde(default = "default_base", deserialize_with = "duration::deserialize")]
        base: Duration,
        /// Growth per failure. Default 2.
        #[serde(default = "default_factor")]
        factor: f64,
        /// Upper bound of the delay. Default 30 s.
        #[serde(
            default = "default_max_delay",
            deserialize_with = "duration::deserialize"
        )]
        max_delay: Duration,
        /// Randomise each delay between half and all of its value. Default true.
        #[serde(default = "default_true")]
        jitter: bool,
        /// Give up after this many consecutive failures. Default: never.
        #[serde(default)]
        max_attempts: Option<u32>,
    },
}

fn default_fixed_interval() -> Duration {
    Duration::from_secs(2)
}
fn default_base() -> Duration {
    Duration::from_millis(100)
}
fn default_factor() -> f64 {
    2.0
}
fn default_max_delay() -> Duration {
    Duration::from_secs(30)
}
fn default_true() -> bool {
    true
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig::Fixed {
            interval: default_fixed_interval(),
            max_attempts: None,
        }
    }
}

/// One outgoing link.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ClientConfig {
    /// Where to dial: `http://host:port` (plaintext), `https://host:port` (TLS), bare
    /// `host:port` (TLS unless `tls.insecure`), or `unix:///path`.
    pub endpoint: String,
    /// TLS settings.
    pub tls: ClientTlsConfig,
    /// Name to verify the server certificate against (SNI). Default: the endpoint's host.
    pub server_name: Option<String>,
    /// Give up a connection attempt after this long. Default 10 s.
    #[serde(deserialize_with = "duration::deserialize")]
    pub connect_timeout: Duration,
    /// Keepalive.
    pub keepalive: ClientKeepalive,
    /// Delay between reconnection attempts.
    pub backoff: BackoffConfig,
    /// Link id to propose. Default: a random UUIDv4 per connection.
    pub link_id: Option<String>,
    /// Refuse servers that do not negotiate a header-MAC key. Default true.
    pub require_header_mac: bool,
    /// What this link is: `edge` (an application), `peer` (a replica of the same
    /// deployment) or `remote`. Default: `edge` for applications, `peer` for node links.
    pub connection_type: Option<ConnectionType>,
    /// How long the server may take to answer the negotiation, in seconds. Default 5.
    pub negotiation_timeout_secs: u64,
    /// Largest message accepted, in MiB (1..=4). Default 4.
    pub max_frame_size: u32,
    /// Frames queued before senders wait. Default 512.
    pub queue_capacity: usize,
    /// HTTP/2 tuning.
    pub http2: Http2Config,
    /// Acknowledge every received TCP segment at once (`TCP_QUICKACK` after each read), for
    /// servers that leave Nagle's algorithm on (upstream's node: a reliable session round
    /// trip through it has a p99 of 42 ms without, 0.3–0.4 ms with). Default `auto`: until
    /// the server announces `TCP_NODELAY` in the link negotiation (see [`QuickAck`]).
    pub tcp_quickack: QuickAck,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            endpoint: format!("http://127.0.0.1:{DEFAULT_PORT}"),
            tls: ClientTlsConfig::default(),
            server_name: None,
            connect_timeout: Duration::from_secs(10),
            keepalive: ClientKeepalive::default(),
            backoff: BackoffConfig::default(),
            link_id: None,
            require_header_mac: true,
            connection_type: None,
            negotiation_timeout_secs: 5,
            max_frame_size: 4,
            queue_capacity: 512,
            http2: Http2Config::default(),
            tcp_quickack: QuickAck::Auto,
        }
    }
}

impl ClientConfig {
    /// A link to `endpoint` with every other setting at its default.
    pub fn with_endpoint(endpoint: impl Into<String>) -> Self {
        ClientConfig {
            endpoint: endpoint.into(),
            ..ClientConfig::default()
        }
    }

    /// The parsed endpoint.
    pub fn parsed_endpoint(&self) -> Result<Endpoint, ConfigError> {
        Endpoint::parse(&self.endpoint).map_err(|e| ConfigError::new("endpoint", e.to_string()))
    }

    /// True when this link uses TLS: `https://`, or a bare `host:port` without
    /// `tls.insecure`.
    pub fn tls_enabled(&self) -> bool {
        match Endpoint::parse(&self.endpoint) {
            Ok(Endpoint::Tcp { scheme, .. }) => match scheme {
                Scheme::Https => true,
                Scheme::Http => false,
                Scheme::Bare => !self.tls.insecure,
            },
            _ => false,
        }
    }

    /// Checks everything serde could not.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let endpoint = self.parsed_endpoint()?;
        if let Endpoint::Tcp { scheme, port, .. } = &endpoint {
            if *port == 0 {
                return Err(ConfigError::new("endpoint", "cannot dial port 0"));
            }
            if *scheme == Scheme::Https && self.tls.insecure {
                return Err(ConfigError::new(
                    "tls.insecure",
                    "contradicts the https:// endpoint (use http:// for plaintext)",
                ));
            }
        }
        self.tls.validate().map_err(|e| e.under("tls"))?;
        validate_common(self.max_frame_size, self.negotiation_timeout_secs)?;
        if self.queue_capacity == 0 {
            return Err(ConfigError::new("queue_capacity", "must be at least 1"));
        }
        if let BackoffConfig::Exponential {
            factor,
            base,
            max_delay,
            ..
        } = &self.backoff
        {
            if !(*factor >= 1.0 && factor.is_finite()) {
                return Err(ConfigError::new("backoff.factor", "must be at least 1"));
            }
            if base > max_delay {
                return Err(ConfigError::new(
                    "backoff.base",
                    "must not exceed max_delay",
                ));
            }
        }
        if self.link_id.as_deref() == Some("") {
            return Err(ConfigError::new("link_id", "must not be empty"));
        }
        self.http2.validate()
    }

    /// The frame-size limit in bytes.
    pub fn max_frame_bytes(&self) -> usize {
        frame_bytes(self.max_frame_size)
    }
}

fn frame_bytes(mib: u32) -> usize {
    (mib as usize * 1024 * 1024).min(slim_wire::MAX_FRAME_LEN)
}

fn validate_common(max_frame_size: u32, negotiation_timeout_secs: u64) -> Result<(), ConfigError> {
    let max_mib = slim_wire::MAX_FRAME_LEN / (1024 * 1024);
    if max_frame_size == 0 || max_frame_size as usize > max_mib {
        return Err(ConfigError::new(
            "max_frame_size",
            format!("must be between 1 and {max_mib} (MiB)"),
        ));
    }
    if negotiation_timeout_secs == 0 {
        return Err(ConfigError::new(
            "negotiation_timeout_secs",
            "must be at least 1",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
