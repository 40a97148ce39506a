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
//! §4. The transcripts in `tests/transcript.rs` pin them down message by message.
//!
//! # Setting up an application
//!
//! ```
//! use std::sync::Arc;
//! use std::time::{Instant, SystemTime};
//! use slim_auth::config::{IdentityProviderConfig, IdentityVerifierConfig};
//! use slim_auth::shared_secret::{SharedSecretProviderConfig, SharedSecretVerifierConfig};
//! use slim_auth::{SignatureScheme, SigningKey};
//! use slim_session::{AuthIdentity, SessionConfig, SessionLayer, SlimMls};
//! use slim_wire::{InstanceId, Name};
//!
//! let secret = "a shared secret of at least 32 bytes!";
//! let key = SigningKey::generate(SignatureScheme::EcdsaP256Sha256, &mut rand_core::OsRng);
//! let provider = IdentityProviderConfig::SharedSecret(SharedSecretProviderConfig::new("org/ns/alice", secret))
//!     .build(key)?;
//! let verifier = IdentityVerifierConfig::SharedSecret(SharedSecretVerifierConfig::new(secret))
//!     .build(None)?;
//! // The instance id upstream derives from the identity.
//! let id = InstanceId(slim_wire::hash::instance_id_for(provider.token_id()));
//! let name = Name::new("org", "ns", "alice")?.with_id(id);
//! let mut layer = SessionLayer::builder(name, AuthIdentity::new(provider.clone(), verifier.clone()))
//!     .mls(SlimMls::new(provider, verifier, slim_mls::Suite::P256))
//!     .seed(rand::random())
//!     .build(Instant::now(), SystemTime::now())?;
//! let (session, handshake) = layer.create_session(
//!     Instant::now(),
//!     SessionConfig::point_to_point().with_mls(),
//!     Name::new("org", "ns", "bob")?,
//! )?;
//! # let _ = (session, handshake);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Where it behaves better than upstream
//!
//! The wire stays the same; what each endpoint does with it differs where upstream is weak:
//!
//! - **Losses are per message.** A message that cannot be recovered (the sender gave up, or
//!   answered a retransmission request with an error) is reported as
//!   [`MessageError::Lost`] in its place in the sender's order; delivery continues.
//! - **Completions tell the truth.** A publish whose retries run out completes with
//!   [`CompletionError::NotAcknowledged`] naming the members that did not acknowledge
//!   (upstream reports success). Invitations complete only after discovery, join, welcome,
//!   the group update and MLS all finished.
//! - **Flow control.** A session keeps at most [`LayerConfig::window`] messages in flight
//!   (a span from the oldest unacknowledged; in a group the slowest online member sets it),
//!   and the transmit queue is bounded; `publish` returns [`PublishError::WouldBlock`] and
//!   [`Event::Writable`] follows when room returns. A receiver whose application does not read
//!   defers its acknowledgements once [`LayerConfig::receive_buffer`] messages (or
//!   [`LayerConfig::receive_buffer_bytes`] of payload) wait, so a fast sender is held back
//!   instead of buffering without bound or losing data. What waits out of order behind a
//!   missing message is bounded by the same byte budget (the next message in order is always
//!   taken), so an upstream sender, whose window counts messages only, cannot make a receiver
//!   hold a window of large messages. Senders bound their bytes in flight the same way
//!   ([`LayerConfig::window_bytes`]).
//! - **Bounded close.** Closing drains outstanding data for at most
//!   [`LayerConfig::drain_timeout`], then runs one control exchange bounded by its retry
//!   budget. Retransmitted GroupClose/LeaveRequest for a session already closed here are
//!   answered, so the other side does not wait out its retries.
//! - **Faster recovery, same budget.** Data retransmission follows the measured round trip
//!   (smoothed RTT, Karn's rule, exponential backoff capped at the configured interval) inside
//!   upstream's total budget of `interval × (max_retries + 1)`; gaps are requested after a
//!   short reorder grace instead of at once, so reordering does not cost retransmissions.
//! - **MLS groups retransmit by repetition.** A data broadcast that some members did not
//!   acknowledge is sent again exactly as first sealed, to the whole channel, instead of a
//!   freshly encrypted unicast copy per missing member (upstream). Each encryption spends a
//!   generation of the sender's MLS ratchet, and mls-rs refuses one more than 1024 ahead of
//!   the last it decrypted, so copies for one lagging member could cut every other member
//!   off for the rest of the epoch. Members that already have the message re-acknowledge
//!   the duplicate.
//! - **Receivers acknowledge RTX replies** with a MsgAck (upstream senders ignore unknown
//!   acks), so a lost reply cannot lose data; an RTX request is not taken as an ack.
//! - **No history for newcomers.** A member joining a group cannot fetch messages sent before
//!   it joined through retransmission requests (they get an error reply, which a receiver that
//!   has not delivered anything from that sender yet skips silently).
//! - **Liveness.** A group member missing three heartbeats, or not acknowledging data within
//!   the retry budget, is marked offline and the group goes on; a heartbeat with the current
//!   epoch brings it back. A point-to-point session ends only when its peer falls silent for
//!   three heartbeats. A participant whose moderator went silent keeps the session (upstream
//!   closes it); a group stays open when its last participant leaves.
//! - **Only members send data.** Data from names outside the roster is dropped (and comes again
//!   once the group update announcing the member arrived), which bounds per-sender state.
//! - **Signed commands.** Command messages are always signed (upstream verifies them when MLS
//!   is on, and always for discovery). Repeated signed requests are answered again without
//!   being re-applied; repeated replies and heartbeats are dropped.
//! - **Group updates when needed.** A GroupUpdate is sent whenever a member other than the
//!   moderator and the member concerned must apply the commit (upstream states this as a
//!   roster-size test that skips the commit for a lone remaining member on removal).
//! - **Heartbeat echo.** A participant answers each moderator heartbeat with one echoing its
//!   id (upstream versions differ between every-member heartbeats and moderator pings whose
//!   replies are counted by id; the echo keeps us alive under both).
//! - **Rejoin without flapping.** A participant asks to rejoin because a moderator heartbeat
//!   shows a newer epoch only if that lasts a full heartbeat interval (a commit in flight
//!   explains a short lag).
//!
//! # Layout
//!
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
//! - `fast_hash.rs`: the hasher of the maps looked up per message.
//!
//! Tests: unit tests beside the code (`wire/tests.rs`, `reliable/tests.rs`), and deterministic
//! simulations in `tests/` over the simulator in `tests/sim/` (virtual clock, a network that
//! routes like a node with seeded loss, duplication, reordering, crashes and partitions; an
//! MLS model and a verifying test identity).

#![forbid(unsafe_code)]

pub mod config;
mod control;
mod error;
mod event;
mod fast_hash;
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
    AuthIdentity, Decrypted, Identity, MemberAdded, MemberId, MlsGroup, MlsProvider, SecurityError,
    SlimMls, Unverified,
};
