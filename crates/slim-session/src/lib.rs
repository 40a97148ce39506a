//! The SLIM session protocol as a sans-IO state machine.
//!
//! One [`SessionLayer`] per application holds every session of that application: point-to-
//! point and group sessions, reliable or fire-and-forget, with or without MLS. It does no I/O
//! and reads no clock: the driver feeds it received messages, timeouts and commands with the
//! current [`std::time::Instant`], and drains what it wants sent ([`SessionLayer::poll_transmit`]),
//! what happened ([`SessionLayer::poll_event`]) and when to wake it next
//! ([`SessionLayer::poll_timeout`]). This is the quinn-proto split: the async driver
//! (`slim-client`) is a thin loop around it, and every protocol behaviour is testable in a
//! deterministic simulation.
//!
//! On the wire it is compatible with upstream SLIM (`slim-bindings` 3.3.8): the message types,
//! payloads, directions, ids, metadata keys, fanouts and retransmissions of the reference's
//! §4. Where upstream is weak it does better, and says so:
//!
//! - an unrecoverable message is reported as a [`MessageError::Lost`] in its place in the
//!   stream; the session continues;
//! - a publish whose retries run out completes with [`CompletionError::NotAcknowledged`]
//!   naming the members that did not acknowledge (upstream reports success);
//! - a session bounds what it has in flight (a window) and refuses publishes with
//!   [`PublishError::WouldBlock`] until acknowledgements return ([`Event::Writable`]), and a
//!   receiver that does not read holds back its sender instead of buffering without bound;
//! - every close finishes within a bounded time;
//! - a new group member cannot fetch messages sent before it joined through retransmission
//!   requests;
//! - invitations complete only after the whole exchange, MLS included.
//!
//! Layout:
//! - [`config`]: [`LayerConfig`], [`SessionConfig`] and their defaults.
//! - `event.rs`: ids, [`Event`], received messages, completion and message errors.
//! - `error.rs`: synchronous command errors.
//! - `layer/`: [`SessionLayer`], the endpoint (and what it answers before a session exists).
//! - `session/`: one session — shared core, moderator and participant roles.
//! - `reliable/`: the data path (ids, acks, retransmission, ordering, flow control).
//! - `control.rs`: reliable control requests.
//! - [`security`]: the identity and MLS traits the layer is built on, sealing and checks.
//! - [`wire`]: message construction and validation.
//! - `io.rs`: output queues and the per-input context.

#![forbid(unsafe_code)]

pub mod config;
mod control;
mod error;
mod event;
mod io;
mod layer;
mod reliable;
pub mod security;
mod session;
pub mod wire;

pub use config::{LayerConfig, MlsSettings, Retries, SessionConfig, SessionKind};
pub use error::{CommandError, PublishError};
pub use event::{
    CloseReason, CompletionError, CompletionId, Delivery, Event, MemberStatus, MessageContext,
    MessageError, ParticipantChange, ParticipantInfo, ReceivedMessage, Role, SessionId,
    SessionInfo, SubscriptionId,
};
pub use io::Stats;
pub use layer::{BuildError, Payload, SessionLayer, SessionLayerBuilder};
pub use security::{
    Decrypted, Identity, MemberAdded, MemberId, MlsGroup, MlsProvider, SecurityError, Unverified,
};
