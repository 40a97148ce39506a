//! What the layer tells its driver: identifiers, events, received messages and errors.
//!
//! The driver (for example the tokio actor in `slim-client`) loops over
//! [`crate::SessionLayer::poll_event`] and routes each [`Event`] to the application handle it
//! concerns. Received messages are not pushed as events: a session signals
//! [`Event::Readable`] and the driver pulls with [`crate::SessionLayer::recv`] when the
//! application asks, so a slow reader holds back its own session only.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use slim_wire::Name;

use crate::config::{SessionConfig, SessionKind};

/// A session id, shared by every endpoint of the session (random, below `u32::MAX - 1000`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u32);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Identifies one command or publish whose outcome is reported by [`Event::Completed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CompletionId(pub u64);

/// Identifies a subscription request the driver must confirm with
/// [`crate::SessionLayer::subscribed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriptionId(pub u64);

/// This endpoint's role in a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Created the session; invites, removes and closes (upstream's "moderator"/initiator).
    Moderator,
    /// Joined on invitation.
    Participant,
}

/// Liveness of a member as seen by this endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberStatus {
    /// Heard from recently; receives data.
    Online,
    /// Missed heartbeats or announced a soft close; kept in the roster, not waited for.
    Offline,
}

/// One roster entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParticipantInfo {
    /// Full name (with instance id).
    pub name: Name,
    /// Liveness.
    pub status: MemberStatus,
}

/// A description of a session, as announced by [`Event::NewSession`].
#[derive(Clone, Debug)]
pub struct SessionInfo {
    /// The session id.
    pub id: SessionId,
    /// This endpoint's role.
    pub role: Role,
    /// Point-to-point or group.
    pub kind: SessionKind,
    /// The session's settings (for participants: as adopted from the JoinRequest, including
    /// its metadata).
    pub config: SessionConfig,
    /// The peer (point-to-point) or the group's data channel (group).
    pub destination: Name,
    /// The moderator's full name.
    pub moderator: Name,
}

/// How a membership changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParticipantChange {
    /// Added to the roster.
    Joined,
    /// Removed from the roster (removed, left, or closed).
    Left,
    /// Back online (heartbeat with a matching epoch, or rejoin).
    Online,
    /// Marked offline (missed heartbeats, unacknowledged data, or soft close).
    Offline,
}

/// Why a session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// The local application closed it.
    Local,
    /// The moderator removed this participant.
    Removed,
    /// The moderator closed the group (GroupClose) or the peer left a point-to-point session.
    ClosedByPeer,
    /// The peer (point-to-point) stopped answering heartbeats.
    PeerUnreachable,
    /// An invitation never completed: no welcome arrived in time.
    JoinTimeout,
    /// The handshake failed (invalid payload, MLS failure, subscription refused).
    Failed(String),
}

/// Everything the layer reports to its driver.
#[derive(Clone, Debug)]
pub enum Event {
    /// A participant session finished its handshake (GroupWelcome processed). Moderator
    /// sessions are not announced: their creator already has the id.
    NewSession(SessionInfo),
    /// A session has messages to take with [`crate::SessionLayer::recv`] (edge-triggered:
    /// raised when its queue goes from empty to non-empty).
    Readable(SessionId),
    /// A session that refused a publish with `WouldBlock` can accept again.
    Writable(SessionId),
    /// A command or publish finished.
    Completed {
        /// Which one.
        id: CompletionId,
        /// Its outcome.
        result: Result<(), CompletionError>,
    },
    /// A member's membership or liveness changed.
    Participant {
        /// The session.
        session: SessionId,
        /// The member's full name.
        name: Name,
        /// What changed.
        change: ParticipantChange,
    },
    /// The session is gone; its id is no longer valid for commands. Messages it received
    /// before closing can still be taken with [`crate::SessionLayer::recv`] (until `None`).
    SessionClosed {
        /// The session.
        session: SessionId,
        /// Why.
        reason: CloseReason,
    },
    /// The application must subscribe to `name` at its node, then call
    /// [`crate::SessionLayer::subscribed`] with `id` (group channels).
    Subscribe {
        /// Name to subscribe (with its id).
        name: Name,
        /// Token to confirm with.
        id: SubscriptionId,
    },
    /// The application no longer needs `name`.
    Unsubscribe {
        /// Name to unsubscribe.
        name: Name,
    },
}

/// Why a command or publish did not succeed. New reasons may be added: match with a
/// wildcard arm.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompletionError {
    /// Retries ran out before these members acknowledged. Delivery to them is not confirmed
    /// (they may still receive the message later); every other member acknowledged.
    #[error("not acknowledged by {}", names(.0))]
    NotAcknowledged(Vec<Name>),
    /// A control exchange got no answer from this name within the retry budget.
    #[error("no reply from {0}")]
    NoReply(Name),
    /// The session closed before the operation finished.
    #[error("session closed")]
    SessionClosed,
    /// The peer refused (for example an invitation to an application that does not accept
    /// sessions never gets a reply; a rejoin that got a GroupNack).
    #[error("refused by {0}")]
    Refused(Name),
    /// The invited name turned out to be a member already.
    #[error("{0} is already a member")]
    AlreadyMember(Name),
    /// The name to remove is not a member.
    #[error("{0} is not a member")]
    NotMember(Name),
    /// MLS or identity processing failed.
    #[error("security failure: {0}")]
    Security(String),
    /// The peer sent something the protocol does not allow.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// The node refused a subscription the operation needs (a group's channels), or did
    /// not confirm it within the control retry budget.
    #[error("subscription failed: {0}")]
    Subscription(String),
}

fn names(list: &[Name]) -> String {
    list.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where a received message came from and how it was sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageContext {
    /// The session it arrived on.
    pub session: SessionId,
    /// Sender's full name.
    pub source: Name,
    /// Destination as sent (this app, or the group's data channel).
    pub destination: Name,
    /// The application payload type (`"msg"` by default).
    pub payload_type: String,
    /// Application metadata (protocol flags such as `PUBLISH_TO` removed).
    pub metadata: HashMap<String, String>,
    /// The sender's identity token as carried in the header (shared with the sender's other
    /// messages: it is the same text until the sender renews it).
    pub identity: Arc<str>,
    /// True when it was sent with `publish_to` (a reply to one member, outside the ordered
    /// stream).
    pub direct: bool,
}

/// One application message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// The payload (decrypted when MLS is on).
    pub payload: Bytes,
    /// The sender's per-session message id.
    pub message_id: u32,
    /// Its context, usable with [`crate::SessionLayer::publish_to`] to answer the sender.
    ///
    /// Shared by consecutive messages of a session whose context is the same (one sender,
    /// no metadata): a message stream's contexts are nearly always alike, and building one
    /// per message cost an allocation, a string copy and three reference counts that the
    /// application's thread then gave back, each a cache line moved between cores. A
    /// context with metadata is never shared, so [`Arc::try_unwrap`] takes it whole.
    pub context: Arc<MessageContext>,
}

/// A message that could not be delivered, reported in its place in the sender's order.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// The message was lost for good: the sender no longer has it, or retransmission requests
    /// went unanswered. Later messages are delivered normally.
    #[error("message {message_id} from {sender} was lost")]
    Lost {
        /// The sender.
        sender: Name,
        /// The missing message id.
        message_id: u32,
    },
}

/// What [`crate::SessionLayer::recv`] returns: a message, or the error that takes its place.
pub type Delivery = Result<ReceivedMessage, MessageError>;
