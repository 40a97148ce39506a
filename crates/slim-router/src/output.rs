//! What the router asks its caller to do: the [`Output`] enum and the [`Sink`] it goes to.
//!
//! The router performs no I/O. Every decision becomes an [`Output`] that owns everything the
//! caller needs (frames are shared [`bytes::Bytes`] underneath, so owning them is a reference
//! count, not a copy). The node calls the router under a lock, collects outputs into a reused
//! `Vec`, releases the lock, and only then waits for queue capacity on each destination: that
//! is how a slow consumer pushes back on its producer without ever blocking the router.

use slim_wire::Frame;

use crate::conn::ConnId;

/// Why a frame was not (or not fully) processed. Each has a counter in
/// [`crate::RouterStats`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum DropReason {
    /// The hop limit ran out.
    TtlExpired,
    /// No subscription matches the destination (other than the incoming connection).
    NoRoute,
    /// The frame came from a connection the router was never told about.
    UnknownSender,
    /// `forward_to` / `recv_from` names a connection that does not exist.
    UnknownConnection,
    /// `forward_to` / `recv_from` names a connection it may not: the incoming one, or a local
    /// connection for a subscription.
    InvalidTarget,
    /// Link negotiation frames belong to the transport and are never routed.
    LinkFrame,
    /// A subscription id already seen arriving over another node link: a propagation loop.
    DuplicateSubscription,
    /// An unsubscribe for a subscription that is not installed.
    NotSubscribed,
    /// The connection holds the configured maximum number of subscriptions.
    SubscriptionLimit,
    /// Too many subscriptions are waiting for a downstream acknowledgement.
    PendingAckLimit,
    /// A subscription acknowledgement that answers nothing this router sent.
    UnexpectedAck,
}

impl DropReason {
    /// Every reason, for metrics registration.
    pub const ALL: [DropReason; 11] = [
        DropReason::TtlExpired,
        DropReason::NoRoute,
        DropReason::UnknownSender,
        DropReason::UnknownConnection,
        DropReason::InvalidTarget,
        DropReason::LinkFrame,
        DropReason::DuplicateSubscription,
        DropReason::NotSubscribed,
        DropReason::SubscriptionLimit,
        DropReason::PendingAckLimit,
        DropReason::UnexpectedAck,
    ];

    /// Snake-case label for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::TtlExpired => "ttl_expired",
            DropReason::NoRoute => "no_route",
            DropReason::UnknownSender => "unknown_sender",
            DropReason::UnknownConnection => "unknown_connection",
            DropReason::InvalidTarget => "invalid_target",
            DropReason::LinkFrame => "link_frame",
            DropReason::DuplicateSubscription => "duplicate_subscription",
            DropReason::NotSubscribed => "not_subscribed",
            DropReason::SubscriptionLimit => "subscription_limit",
            DropReason::PendingAckLimit => "pending_ack_limit",
            DropReason::UnexpectedAck => "unexpected_ack",
        }
    }

    /// Human-readable explanation, used as the error text of negative acknowledgements.
    pub fn message(self) -> &'static str {
        match self {
            DropReason::TtlExpired => "hop limit (ttl) expired",
            DropReason::NoRoute => "no route to destination",
            DropReason::UnknownSender => "frame from an unregistered connection",
            DropReason::UnknownConnection => "the named connection does not exist",
            DropReason::InvalidTarget => "the named connection cannot be used for this request",
            DropReason::LinkFrame => "link negotiation frames are not routed",
            DropReason::DuplicateSubscription => "subscription id already seen (loop)",
            DropReason::NotSubscribed => "no such subscription",
            DropReason::SubscriptionLimit => "subscription limit of the connection reached",
            DropReason::PendingAckLimit => "too many subscriptions awaiting acknowledgement",
            DropReason::UnexpectedAck => "acknowledgement for an unknown subscription",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

/// One thing the caller must do.
#[derive(Clone, Debug)]
pub enum Output {
    /// Send a frame received from another connection on `to`, re-encoded with `ttl`
    /// (`frame.encode_forwarded(out, ttl, mac_of(to))`, which also strips the process-local
    /// header fields).
    Forward {
        /// Destination connection.
        to: ConnId,
        /// The received frame.
        frame: Frame,
        /// TTL to write (already decremented for this hop).
        ttl: u32,
    },
    /// Send a frame the router made itself (subscription ack, propagated or replayed
    /// subscription, synthesized unsubscribe) on `to`, encoded the same way as `Forward`.
    Send {
        /// Destination connection.
        to: ConnId,
        /// The frame to send.
        frame: Frame,
        /// TTL to write.
        ttl: u32,
    },
    /// Tell the local application on `to` that its `frame` was dropped. Only local connections
    /// get these: remote senders are never told about missing routes (as upstream).
    LocalError {
        /// The local connection the frame came from.
        to: ConnId,
        /// The frame that could not be delivered.
        frame: Frame,
        /// Why.
        reason: DropReason,
    },
    /// `frame`, received from `from`, was dropped; for logs (the counter is already counted).
    Dropped {
        /// The connection the frame came from.
        from: ConnId,
        /// The dropped frame.
        frame: Frame,
        /// Why.
        reason: DropReason,
    },
}

impl Output {
    /// Destination, frame and TTL when this output transmits something on a connection.
    pub fn transmission(&self) -> Option<(ConnId, &Frame, u32)> {
        match self {
            Output::Forward { to, frame, ttl } | Output::Send { to, frame, ttl } => {
                Some((*to, frame, *ttl))
            }
            Output::LocalError { .. } | Output::Dropped { .. } => None,
        }
    }
}

/// Where the router puts its outputs.
pub trait Sink {
    /// Accepts one output. Called synchronously from inside the router.
    fn push(&mut self, out: Output);
}

impl Sink for Vec<Output> {
    fn push(&mut self, out: Output) {
        Vec::push(self, out);
    }
}
