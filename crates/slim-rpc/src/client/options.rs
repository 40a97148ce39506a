//! [`CallOptions`] (per call) and [`ChannelConfig`] (per channel), and how a relative
//! timeout becomes the absolute deadline upstream puts on the wire.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use slim_client::SessionConfig;

use crate::wire::DEFAULT_TIMEOUT;

/// Longest timeout honoured; larger ones (such as `Duration::MAX`) are clamped so that the
/// deadline stays representable on both clocks.
const MAX_TIMEOUT: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Options of one call: timeout, metadata, idempotency key.
///
/// ```
/// use std::time::Duration;
/// use slim_rpc::CallOptions;
///
/// let options = CallOptions::new()
///     .with_timeout(Duration::from_secs(30))
///     .with_metadata("x-tenant", "acme")
///     .with_idempotency_key("order-4711");
/// assert_eq!(options.timeout(), Some(Duration::from_secs(30)));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallOptions {
    timeout: Option<Duration>,
    metadata: HashMap<String, String>,
    idempotency_key: Option<String>,
}

impl CallOptions {
    /// No timeout of its own (the channel's applies), no metadata, no key.
    pub fn new() -> Self {
        Self::default()
    }

    /// How long the call may take, from now. On the wire it becomes upstream's absolute
    /// deadline; the caller stops waiting when it passes (`DEADLINE_EXCEEDED`), tells the
    /// server, and the server stops the handler.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Adds a metadata entry the server's handler sees in its context. Keys the protocol
    /// uses (`rpc-id`, `service`, `method`, `slimrpc-*`) are not sent.
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Makes the call idempotent under `key`: a server runs the handler at most once per
    /// key (and caller and method) within its window, and answers retries with the stored
    /// result. Reuse the key only to retry the same request.
    pub fn with_idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// The timeout, if set.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The metadata.
    pub fn metadata(&self) -> &HashMap<String, String> {
        &self.metadata
    }

    /// The idempotency key, if set.
    pub fn idempotency_key(&self) -> Option<&str> {
        self.idempotency_key.as_deref()
    }
}

/// Settings of a [`crate::Channel`] or [`crate::GroupChannel`].
#[derive(Clone, Debug)]
pub struct ChannelConfig {
    /// The session the calls share. Default: reliable (1 s × 10 retries) with MLS, as
    /// upstream's clients; the kind is set by the channel (point-to-point or group).
    pub session: SessionConfig,
    /// Timeout of calls that set none. Default `None`: the call waits as long as it takes,
    /// and the wire carries upstream's default deadline (now + 10 hours).
    pub timeout: Option<Duration>,
    /// Response frames queued per call before the channel's reader waits for the caller to
    /// read (holding back the other calls of the channel). Default 256.
    pub response_buffer: usize,
    /// Calls in flight on the channel; more fail with `RESOURCE_EXHAUSTED`. Default 10 000.
    pub max_calls: usize,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        ChannelConfig {
            session: SessionConfig::point_to_point().with_mls(),
            timeout: None,
            response_buffer: 256,
            max_calls: 10_000,
        }
    }
}

/// A call's deadline on both clocks: the wall clock for the wire, the monotonic one for
/// waiting.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline {
    pub wire: SystemTime,
    pub local: tokio::time::Instant,
}

impl Deadline {
    /// The deadline of a call with `timeout` (or the default), starting now.
    pub fn after(timeout: Option<Duration>) -> Deadline {
        let timeout = timeout.unwrap_or(DEFAULT_TIMEOUT).min(MAX_TIMEOUT);
        let now = tokio::time::Instant::now();
        Deadline {
            wire: SystemTime::now()
                .checked_add(timeout)
                .unwrap_or_else(SystemTime::now),
            local: now.checked_add(timeout).unwrap_or(now),
        }
    }
}
