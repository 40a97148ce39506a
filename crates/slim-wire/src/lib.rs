//! The SLIM data-plane wire format, shared by nodes and applications.
//!
//! Everything that crosses a link is defined here, byte-compatible with upstream SLIM:
//!
//! - [`proto`]: the prost types of `dataplane.proto.v1`, generated from
//!   `proto/dataplane/v1/data_plane.proto`. Applications build and read these.
//! - [`name`]: [`Name`], the validated hierarchical name (`org/ns/svc` + instance id) with
//!   upstream's exact component hashing ([`hash`]).
//! - [`frame`]: [`Frame`], a validated zero-copy view over one encoded `Message`. Nodes route
//!   frames without decoding payloads, and re-emit them with a new TTL and header MAC
//!   ([`frame::Frame::encode_forwarded`]).
//! - [`mac`]: the byte-exact preimage of the hop-by-hop header MAC.
//! - [`aad`]: the `HeaderIntegrityAad` encoding used as MLS AAD and end-to-end signature input.
//! - [`builders`]: builders for the messages nodes and apps originate (subscribe, publish, acks).
//!
//! Conversion from bytes validates everything once, at the edge: a [`Frame`] that exists is
//! well formed, so nothing downstream re-checks it.

#![forbid(unsafe_code)]

pub mod aad;
pub mod builders;
pub mod frame;
pub mod hash;
pub mod mac;
pub mod name;
mod pb;
pub mod proto;

pub use frame::{Frame, FrameError, FrameKind};
pub use name::{InstanceId, Name, NameError, NameKey};

/// Hop limit given to messages this implementation originates (upstream `DEFAULT_TTL`).
pub const DEFAULT_TTL: u32 = 8;

/// Fanout the session layer uses for multicast data and broadcast control messages.
pub const MAX_FANOUT: u32 = 256;

/// Largest encoded `Message` accepted from a link, in bytes (tonic's default decode limit).
pub const MAX_FRAME_LEN: usize = 4 * 1024 * 1024;

/// The version string this implementation announces in link negotiation and headers. It
/// follows upstream's numbering for compatibility checks (semver, major 2+ speaks header MACs).
pub const WIRE_VERSION: &str = "3.4.6";
