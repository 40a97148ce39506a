//! The SLIM client library for Rust applications.
//!
//! An [`App`] is an application connected to a SLIM node under a name
//! (`org/namespace/service` plus an instance id derived from its identity). It creates
//! point-to-point and group [`Session`]s as their moderator, accepts sessions it is invited
//! to, and in a session publishes (with flow control: `publish` waits while the peers are
//! behind), receives (as a [`futures_core::Stream`] or with `recv`), invites and removes
//! members and closes. Sessions can be reliable (acknowledged, retransmitted, in order per
//! sender) and end-to-end encrypted with MLS; they interoperate with upstream SLIM
//! applications (`slim-bindings`).
//!
//! ```no_run
//! use slim_client::{App, SessionConfig};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let secret = "a shared secret of at least 32 bytes!";
//! // The responder: accept a session and echo what arrives.
//! let bob = App::builder("org/ns/bob".parse()?).shared_secret(secret).connect().await?;
//! tokio::spawn(async move {
//!     while let Ok(session) = bob.accept().await {
//!         while let Some(Ok(message)) = session.recv().await {
//!             let _ = session.publish(message.payload).await;
//!         }
//!     }
//! });
//! // The initiator: a reliable, MLS-encrypted point-to-point session.
//! let alice = App::builder("org/ns/alice".parse()?).shared_secret(secret).connect().await?;
//! let session = alice
//!     .create_session(SessionConfig::point_to_point().with_mls(), "org/ns/bob".parse()?)
//!     .await?;
//! session.publish("ping").await?.await?;
//! let echo = session.recv().await.ok_or("closed")??;
//! assert_eq!(echo.payload, "ping");
//! session.close().await?;
//! # Ok(()) }
//! ```
//!
//! # How it works
//!
//! Each `App` has one driver task that owns the sans-IO session layer (`slim-session`) and
//! the connection to the node ([`dataplane`]); `App` and `Session` are cheap-clone handles
//! that send it commands (the async-nats pattern). The driver reconnects to its node and
//! restores its subscriptions by itself; sessions ride out a short outage on their
//! retransmissions. Applications of one process can share one link instead
//! ([`Connection`]): the node then sends a message for several of them once.
//!
//! Defaults suit agents backed by language models: receiving and accepting wait as long as
//! it takes, sessions end only when a peer process is gone (missed heartbeats), and every
//! timeout is configurable in [`AppConfig`].
//!
//! # Layout
//!
//! - `app.rs`: [`App`], [`AppBuilder`].
//! - `session.rs`: [`Session`], [`Completion`], [`Messages`].
//! - `config.rs`: [`AppConfig`], [`AppIdentity`].
//! - `connection/`: [`Connection`], one link shared by several applications.
//! - `uplink.rs`: an application's way to the node, its own link or a shared connection.
//! - `error.rs`: [`ConnectError`], [`SessionError`].
//! - `driver/`: the driver task (loop, commands, events, per-session state, subscriptions).
//! - [`dataplane`]: the data-plane client (link, subscriptions, reconnection), usable alone.

#![forbid(unsafe_code)]

mod app;
mod config;
mod connection;
pub mod dataplane;
mod driver;
mod error;
mod handover;
mod session;
#[cfg(test)]
mod test_frames;
mod uplink;

pub use app::{App, AppBuilder};
pub use config::{AppConfig, AppIdentity};
pub use connection::{Connection, ConnectionConfig, ConnectionStats};
pub use error::{ConnectError, SessionError};
pub use session::{Completion, Message, Messages, Session};

pub use slim_session::{
    CloseReason, CompletionError, Delivery, LayerConfig, MemberStatus, MessageContext,
    MessageError, MlsSettings, ParticipantInfo, Payload, Retries, Role, SessionConfig, SessionId,
    SessionInfo, SessionKind, Stats,
};
/// The link settings of [`AppConfig::link`].
pub use slim_transport::{ClientConfig, QuickAck};
pub use slim_wire::{InstanceId, Name};
