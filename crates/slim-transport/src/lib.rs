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
//! - [`codec`]: the tonic codec that moves raw frames (zero-copy decode, signed encode).
//! - [`queue`]: the bounded outbound queue of a link and the batching stream its writer reads.
//! - [`link`]: [`Link`] = info + sender + receiver, the unit the node and client work with.
//! - [`server`]: listening, TLS accept, the hand-written gRPC service, negotiation of
//!   accepted streams.
//! - [`client`]: dialing, negotiation of dialed streams, reconnection with [`backoff`].
//! - [`config`]: typed settings with documented defaults; [`endpoint`] parses endpoint
//!   strings; [`tls`] builds rustls configurations.
//! - [`metrics`]: names of the counters reported through the `metrics` facade.
//!
//! Crypto: link keys use pure-Rust RustCrypto crates (`x25519-dalek`, `ml-kem`, `hkdf`,
//! `hmac`, `sha2`), so the negotiation builds and fuzzes anywhere; TLS uses rustls with the
//! aws-lc-rs provider, the one that offers the hybrid `X25519MLKEM768` group.

#![forbid(unsafe_code)]

pub mod backoff;
pub mod client;
pub mod codec;
pub mod config;
mod connector;
pub mod endpoint;
mod io;
pub mod link;
mod local;
pub mod mac;
pub mod metrics;
pub mod negotiate;
pub mod queue;
pub mod server;
pub mod tls;

pub use client::{DialError, dial, reconnect};
pub use codec::{InFrame, OutFrame};
pub use config::{ClientConfig, ServerConfig};
pub use io::RemoteAddr;
pub use link::{Direction, Link, LinkEnd, LinkInfo, LinkReceiver};
pub use local::LocalNode;
pub use negotiate::ConnectionType;
pub use queue::{LinkClosed, LinkSender};
pub use server::{LinkHandler, Server, ServerError};
