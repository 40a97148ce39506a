//! Errors returned synchronously by commands. Outcomes that take network round trips are
//! reported later through [`crate::Event::Completed`] instead.

use slim_wire::Name;

use crate::SessionId;

/// Why a session command was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// No session with this id (never existed, or closed).
    #[error("unknown session {0}")]
    UnknownSession(SessionId),
    /// Only the moderator may invite, remove or close a group for everyone.
    #[error("only the moderator can do this")]
    NotModerator,
    /// The command does not apply to this kind of session (for example inviting into a
    /// point-to-point session, or a soft close of one).
    #[error("not supported for this session kind")]
    WrongKind,
    /// The session is closing; it accepts nothing new.
    #[error("session is closing")]
    Closing,
    /// The session asks for MLS but the layer has no MLS provider.
    #[error("MLS requested but no MLS provider is configured")]
    MlsUnavailable,
    /// The session table is full ([`crate::LayerConfig::max_sessions`]).
    #[error("too many sessions")]
    TooManySessions,
    /// The name is already a member.
    #[error("{0} is already a member")]
    AlreadyMember(Name),
    /// The name is not a member.
    #[error("{0} is not a member")]
    NotMember(Name),
    /// The moderator already has too many membership changes queued.
    #[error("too many membership changes queued")]
    Busy,
    /// Nothing to do (for example `rejoin` on a session that is online).
    #[error("invalid in the current state: {0}")]
    InvalidState(&'static str),
}

/// Why a publish was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The session's window or the layer's transmit queue is full: retry after
    /// [`crate::Event::Writable`] for this session.
    #[error("flow control: wait for Writable")]
    WouldBlock,
    /// No session with this id.
    #[error("unknown session {0}")]
    UnknownSession(SessionId),
    /// The session is closing.
    #[error("session is closing")]
    Closing,
    /// A participant that has not finished joining, or has soft-closed, cannot send.
    #[error("session is not active")]
    NotActive,
}
