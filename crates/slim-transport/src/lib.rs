//! SLIM data-plane links: the transport between nodes, and between applications and nodes.
//!
//! A link is one gRPC bidirectional stream (`dataplane.proto.v1.DataPlaneService/OpenChannel`)
//! over HTTP/2 — plaintext (h2c), TLS 1.3 or mutual TLS, on TCP or a Unix socket — carrying
//! `slim_wire::Frame`s. Its first exchange is the link negotiation, which derives the key of
//! the hop-by-hop header MAC; after that every routed frame is signed by the sender and
//! verified by the receiver.
//!
//! What is where:
//! - [`negotiate`]: the negotiation as pure functions over `proto` messages (sans-IO,
//!   fuzzable), and the key derivation.
//! - [`mac`]: header MAC signing and verification, and the inbound MAC policy.
//! - [`codec`]: frames in and out of a link, and their per-frame header MAC.
//! - [`queue`]: the bounded outbound queue of a link and the batching stream its writer reads.
//! - [`link`]: [`Link`] = info + sender + receiver, the unit the node and client work with.
//! - `http2`: the HTTP/2 connections, driven with `h2` directly (one task per connection),
//!   gRPC framing, the stream writer, keepalive.
//! - [`server`]: listening, TLS accept, serving connections, negotiation of accepted
//!   streams.
//! - [`client`]: dialing, negotiation of dialed streams, reconnection with [`backoff`].
//! - [`config`]: typed settings with documented defaults; [`endpoint`] parses endpoint
//!   strings; [`tls`] builds rustls configurations.
//! - [`metrics`]: names of the counters reported through the `metrics` facade.
//!
//! Features: `runtime` (default) is everything async. Without it only the sans-IO parts
//! build (negotiation, MAC, configuration types, endpoints, backoff), with no tokio, h2 or
//! rustls: that is what the fuzz targets link.
//!
//! Crypto: link keys use pure-Rust RustCrypto crates (`x25519-dalek`, `ml-kem`, `hkdf`,
//! `hmac`, `sha2`), so the negotiation builds and fuzzes anywhere; TLS uses rustls with the
//! aws-lc-rs provider, the one that offers the hybrid `X25519MLKEM768` group.

#![forbid(unsafe_code)]

pub mod backoff;
#[cfg(feature = "runtime")]
pub mod client;
#[cfg(feature = "runtime")]
pub mod codec;
pub mod config;
#[cfg(feature = "runtime")]
mod connector;
pub mod endpoint;
#[cfg(feature = "runtime")]
mod http2;
#[cfg(feature = "runtime")]
mod io;
#[cfg(feature = "runtime")]
pub mod link;
mod local;
pub mod mac;
#[cfg(feature = "runtime")]
pub mod metrics;
pub mod negotiate;
#[cfg(feature = "runtime")]
pub mod queue;
#[cfg(feature = "runtime")]
pub mod server;
#[cfg(feature = "runtime")]
pub mod tls;

pub use config::{ClientConfig, QuickAck, ServerConfig};
pub use local::LocalNode;
pub use negotiate::ConnectionType;

#[cfg(feature = "runtime")]
pub use client::{DialError, dial, reconnect};
#[cfg(feature = "runtime")]
pub use codec::{InFrame, OutFrame};
#[cfg(feature = "runtime")]
pub use http2::absorbing_self_wakes;
#[cfg(feature = "runtime")]
pub use http2::adopt::{AdoptedConnection, ConnectionHandle};
#[cfg(feature = "runtime")]
pub use io::RemoteAddr;
#[cfg(feature = "runtime")]
pub use link::{Direction, Link, LinkEnd, LinkInfo, LinkReceiver};
#[cfg(feature = "runtime")]
pub use queue::{LinkClosed, LinkSender};
#[cfg(feature = "runtime")]
pub use server::{LinkHandler, LinkWork, Server, ServerError};
