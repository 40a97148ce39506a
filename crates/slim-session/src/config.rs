//! Typed configuration with documented defaults.
//!
//! [`LayerConfig`] holds what is shared by every session of one application (bounds, control
//! timers, liveness); [`SessionConfig`] is what an application chooses per session and what
//! travels to the peers in the JoinRequest (reliability timers, MLS, metadata).

use std::collections::HashMap;
use std::time::Duration;

/// Point-to-point or group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SessionKind {
    /// Two endpoints; data goes to the bound peer with fanout 1.
    PointToPoint,
    /// A moderator and any number of members; data goes to the group's data channel with
    /// fanout 256 (upstream calls this "multicast").
    Group,
}

/// Retransmission timers of a reliable exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retries {
    /// Time between two transmissions of the same message.
    pub interval: Duration,
    /// Retransmissions after the first send before giving up.
    pub max_retries: u32,
}

impl Retries {
    /// Creates timer settings.
    pub const fn new(interval: Duration, max_retries: u32) -> Self {
        Retries {
            interval,
            max_retries,
        }
    }

    /// The upstream defaults used for control messages: 1 s, 10 retries.
    pub const fn control_default() -> Self {
        Retries::new(Duration::from_secs(1), 10)
    }

    /// How long an exchange may take before it is abandoned.
    pub fn budget(&self) -> Duration {
        self.interval
            .saturating_mul(self.max_retries.saturating_add(1))
    }
}

/// MLS settings of a session (presence = MLS on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MlsSettings {
    /// Percentage (0–100) of decrypted messages whose MLS authenticated data is compared with
    /// the header AAD rebuilt from the received headers. Upstream bindings default to 100.
    pub header_integrity_validation_percent: u32,
}

impl Default for MlsSettings {
    fn default() -> Self {
        MlsSettings {
            header_integrity_validation_percent: 100,
        }
    }
}

/// Per-session settings chosen by the creator and adopted by the participants.
///
/// ```
/// use std::time::Duration;
/// use slim_session::{SessionConfig, Retries};
///
/// let config = SessionConfig::group()
///     .with_reliability(Some(Retries::new(Duration::from_millis(500), 20)))
///     .with_mls()
///     .with_metadata("topic", "weather");
/// assert!(config.is_reliable());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// Point-to-point or group.
    pub kind: SessionKind,
    /// `Some` = reliable data (acks, retransmission, in-order delivery); `None` =
    /// fire-and-forget. Sent to participants as the JoinRequest `timer_settings`.
    pub reliability: Option<Retries>,
    /// `Some` = end-to-end MLS encryption of application payloads and signed control
    /// messages.
    ///
    /// `None` leaves a session without end-to-end protection, as upstream does: payloads
    /// cross every node in clear, and neither data nor (after the invitation) control
    /// messages are authenticated between the ends, so a node or relay on the path can read,
    /// drop or replace them (a copy carrying the next message id is taken as the real one).
    /// TLS protects each link from outsiders, not from the nodes themselves. Turn MLS on
    /// whenever a node between the ends is not fully trusted.
    pub mls: Option<MlsSettings>,
    /// Arbitrary key/values sent with the JoinRequest; participants adopt them.
    pub metadata: HashMap<String, String>,
}

impl SessionConfig {
    /// A reliable point-to-point session without MLS (1 s × 10 retries).
    pub fn point_to_point() -> Self {
        SessionConfig {
            kind: SessionKind::PointToPoint,
            reliability: Some(Retries::control_default()),
            mls: None,
            metadata: HashMap::new(),
        }
    }

    /// A reliable group session without MLS (1 s × 10 retries).
    pub fn group() -> Self {
        SessionConfig {
            kind: SessionKind::Group,
            ..Self::point_to_point()
        }
    }

    /// Sets or clears reliable delivery.
    pub fn with_reliability(mut self, reliability: Option<Retries>) -> Self {
        self.reliability = reliability;
        self
    }

    /// Turns MLS on with the default settings (100 % header validation).
    pub fn with_mls(mut self) -> Self {
        self.mls = Some(MlsSettings::default());
        self
    }

    /// Adds one metadata entry.
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// True when data is acknowledged and retransmitted.
    pub fn is_reliable(&self) -> bool {
        self.reliability.is_some()
    }
}

/// Settings shared by all sessions of one application.
///
/// Every queue the layer keeps is bounded by one of these numbers. The defaults suit agents
/// whose peers may think for minutes between messages: nothing here times out because an
/// application is slow to answer, only because the network or a peer process is gone.
#[derive(Clone, Debug)]
pub struct LayerConfig {
    /// Data messages a session keeps in flight (sent, not yet acknowledged by every online
    /// member) before `publish` returns `WouldBlock`. Default 2048. Upstream's producer
    /// buffer is 512; with ours that many held a reliable 64-byte stream about a tenth below
    /// what the session could carry (`docs/benchmarks.md`, stop 19). Receivers buffer up to
    /// twice their own window out of order.
    pub window: u32,
    /// Payload bytes a session keeps in flight before `publish` returns `WouldBlock`, as
    /// well as `window` messages; a message larger than this is still sent when nothing else
    /// is in flight. Default 16 MiB: deep enough for any link's bandwidth-delay product,
    /// small enough that a window of large messages does not pin gigabytes per session.
    pub window_bytes: usize,
    /// Received messages a session holds for the application (in order, not yet taken with
    /// `recv`) before it stops acknowledging new ones. Default 4096.
    pub receive_buffer: usize,
    /// Payload bytes a session holds for the application before it stops acknowledging new
    /// messages, as well as `receive_buffer` messages; the same bound applies to the
    /// messages it then keeps unacknowledged, and to those it holds out of order behind a
    /// missing one. A message larger than this is still taken when nothing is held. Default 64 MiB: 4096 large messages would otherwise be
    /// gigabytes per session.
    pub receive_buffer_bytes: usize,
    /// Outbound messages waiting for `poll_transmit` before `publish` returns `WouldBlock`.
    /// Control traffic is never refused. Default 8192.
    pub transmit_queue: usize,
    /// Retransmission of control requests (join, welcome, update, leave, close). Its budget
    /// (interval × (retries + 1)) also bounds how long a group moderator's invite waits for
    /// the driver to confirm the channel subscriptions. Default 1 s × 10, as upstream.
    pub control: Retries,
    /// Heartbeat period. Default 10 s, as upstream.
    pub heartbeat_interval: Duration,
    /// Heartbeat periods without any traffic after which a member is marked offline.
    /// Default 3, as upstream.
    pub max_missed_heartbeats: u32,
    /// Longest time a closing session waits for its outstanding data to be acknowledged
    /// before it leaves anyway. Default 30 s.
    pub drain_timeout: Duration,
    /// Longest time an invited participant waits between JoinRequest and GroupWelcome.
    /// Default 60 s.
    pub join_timeout: Duration,
    /// Upper bound of the session table. Default 10 000.
    pub max_sessions: usize,
    /// Messages that could not be decrypted yet (sent in an epoch this member has not reached)
    /// kept per session until the commit arrives. Default 256.
    pub pending_decrypt: usize,
    /// How many senders the control-message replay guard remembers. Default 100 (upstream).
    pub replay_senders: usize,
    /// How many message ids per sender the replay guard remembers. Default 1000 (upstream).
    pub replay_ids_per_sender: usize,
    /// Whether invitations (JoinRequests) from other applications are accepted. Default true.
    pub accept_invitations: bool,
    /// Longest time the acknowledgement of a received data message is held back, so that it
    /// shares a write with what the session sends next (usually the application's answer).
    /// Held acks also go out as soon as the application has read everything and waits for
    /// more, so this bound only applies to an application that neither answers nor reads.
    /// Never more than a quarter of the session's retransmission interval; zero sends every
    /// ack at once. Default 5 ms (it sets how often a driver's timer may fire for nothing
    /// while messages flow: see `session/acks.rs`).
    pub ack_delay: Duration,
    /// Held acknowledgements of one session that go out at once, so a sender's window keeps
    /// moving while a busy reader never waits. Default 32.
    pub ack_batch: usize,
}

impl Default for LayerConfig {
    fn default() -> Self {
        LayerConfig {
            window: 2048,
            window_bytes: 16 << 20,
            receive_buffer: 4096,
            receive_buffer_bytes: 64 << 20,
            transmit_queue: 8192,
            control: Retries::control_default(),
            heartbeat_interval: Duration::from_secs(10),
            max_missed_heartbeats: 3,
            drain_timeout: Duration::from_secs(30),
            join_timeout: Duration::from_secs(60),
            max_sessions: 10_000,
            pending_decrypt: 256,
            replay_senders: 100,
            replay_ids_per_sender: 1000,
            accept_invitations: true,
            ack_delay: Duration::from_millis(5),
            ack_batch: 32,
        }
    }
}
