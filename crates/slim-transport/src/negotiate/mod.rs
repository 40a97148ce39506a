//! Link negotiation, sans-IO: the first exchange on every link, which agrees on a link id and
//! derives the key of the hop-by-hop header MAC.
//!
//! The dialer ([`ClientHandshake`]) sends a `Link` request carrying a link id, its version, a
//! fresh X25519 public key (and an ML-KEM-768 encapsulation key when post-quantum), the
//! connection type it wants and its node id. The listener ([`respond`]) validates it, answers
//! with its own key (and the KEM ciphertext), and both sides derive the same 32-byte MAC key
//! with HKDF-SHA256 ([`kdf`]). Nothing here touches a socket or a clock: messages go in and
//! out as `proto::Message`s and randomness is a parameter, so the whole exchange is tested and
//! fuzzed without I/O. The async layer (`server.rs`, `client.rs`) enforces the timeout.
//!
//! Both ends also say that they write with `TCP_NODELAY` (`tcp_nodelay`, a field upstream
//! does not know and skips): every socket we open or accept has it. An end that does not say
//! so (upstream) gets its segments acknowledged at once ([`PeerInfo::nodelay`]).
//!
//! Layout: this file holds the shared types and errors, `client.rs` the dialer's side,
//! `server.rs` the listener's side, `kdf.rs` the key derivation, `tests.rs` the exchange tests.

mod client;
mod kdf;
mod server;
#[cfg(test)]
mod tests;

pub use client::{ClientHandshake, ClientLinkParams};
pub use kdf::{HKDF_INFO_CLASSICAL, HKDF_INFO_HYBRID, derive_mac_key};
pub use server::{ServerLinkParams, respond};

use slim_wire::proto;

use crate::mac::MacKey;

/// Length of an X25519 public key on the wire.
pub const X25519_KEY_LEN: usize = 32;
/// Length of an ML-KEM-768 encapsulation key (the initiator's `link_kem_payload`).
pub const MLKEM768_EK_LEN: usize = 1184;
/// Length of an ML-KEM-768 ciphertext (the responder's `link_kem_payload`).
pub const MLKEM768_CT_LEN: usize = 1088;

/// What a link is for, as announced by the dialer and echoed by the listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectionType {
    /// A link to another domain, managed by a control plane.
    Remote,
    /// A replica of the same deployment: subscriptions are synchronised over it.
    Peer,
    /// An application or first-hop client.
    Edge,
}

impl ConnectionType {
    /// The wire enum value.
    pub fn to_proto(self) -> proto::LinkConnectionType {
        match self {
            ConnectionType::Remote => proto::LinkConnectionType::Remote,
            ConnectionType::Peer => proto::LinkConnectionType::Peer,
            ConnectionType::Edge => proto::LinkConnectionType::Edge,
        }
    }

    /// Reads the wire value; `None` for numbers this version does not know.
    pub fn from_wire(value: i32) -> Option<Self> {
        match proto::LinkConnectionType::try_from(value).ok()? {
            proto::LinkConnectionType::Remote => Some(ConnectionType::Remote),
            proto::LinkConnectionType::Peer => Some(ConnectionType::Peer),
            proto::LinkConnectionType::Edge => Some(ConnectionType::Edge),
        }
    }

    /// Lower-case label for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionType::Remote => "remote",
            ConnectionType::Peer => "peer",
            ConnectionType::Edge => "edge",
        }
    }
}

/// What the other end said about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer's node id (empty for applications).
    pub node_id: String,
    /// The peer's deployment name.
    pub deployment_name: String,
    /// The peer's announced version (semver).
    pub slim_version: String,
    /// The peer announced that it writes with `TCP_NODELAY` (our extension, field 48; absent
    /// from upstream, which leaves Nagle's algorithm on): acknowledging its segments at once
    /// gains nothing (see `crate::io::QuickAck`).
    pub nodelay: bool,
}

/// The outcome of a successful negotiation, the same on both ends.
#[derive(Debug, Clone)]
pub struct Negotiated {
    /// The agreed link id (chosen by the dialer).
    pub link_id: String,
    /// The connection type the dialer asked for and the listener echoed.
    pub connection_type: ConnectionType,
    /// The header-MAC key; `None` only for a legacy peer accepted in non-strict mode.
    pub mac_key: Option<MacKey>,
    /// True when the key mixes in an ML-KEM-768 secret.
    pub hybrid: bool,
    /// The other end.
    pub peer: PeerInfo,
}

/// Why a negotiation failed. Each variant names the rule the other end broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NegotiationError {
    /// The message is not a `Link` negotiation payload.
    #[error("expected a link negotiation message")]
    NotNegotiation,
    /// A request arrived with `is_reply` set, or a reply without it.
    #[error("link negotiation message has the wrong direction (is_reply = {is_reply})")]
    WrongDirection {
        /// The flag as received.
        is_reply: bool,
    },
    /// The request carried no link id.
    #[error("link negotiation request has an empty link_id")]
    EmptyLinkId,
    /// The reply echoed a different link id.
    #[error("link negotiation reply echoed link_id {got:?}, expected {expected:?}")]
    LinkIdMismatch {
        /// What we sent.
        expected: String,
        /// What came back.
        got: String,
    },
    /// `slim_version` is not semver.
    #[error("slim_version {0:?} is not a semantic version")]
    BadVersion(String),
    /// The connection type is not one this version knows.
    #[error("unknown connection_type {0}")]
    UnknownConnectionType(i32),
    /// Strict mode and the peer sent no X25519 key (a legacy peer).
    #[error("peer sent no X25519 key and header MACs are required")]
    MissingKey,
    /// The X25519 key has the wrong length or is a low-order point.
    #[error("invalid X25519 public key ({len} bytes)")]
    BadKey {
        /// Length as received.
        len: usize,
    },
    /// Post-quantum required but the peer sent no ML-KEM payload.
    #[error("post-quantum link required but the peer sent no ML-KEM payload")]
    MissingKem,
    /// The ML-KEM payload has the wrong length, or arrived unasked.
    #[error("invalid ML-KEM payload ({len} bytes)")]
    BadKem {
        /// Length as received.
        len: usize,
    },
    /// A peer link from a node with our own node id.
    #[error("peer link from our own node id {0:?}")]
    SelfLink(String),
    /// A peer link from another deployment.
    #[error("peer link from deployment {theirs:?}, ours is {ours:?}")]
    DeploymentMismatch {
        /// Our deployment name.
        ours: String,
        /// The peer's.
        theirs: String,
    },
}

impl NegotiationError {
    /// True when retrying cannot help: the listener refuses this peer (gRPC
    /// `PermissionDenied`), so dialers stop reconnecting.
    pub fn is_permission_denied(&self) -> bool {
        matches!(
            self,
            NegotiationError::SelfLink(_) | NegotiationError::DeploymentMismatch { .. }
        )
    }

    /// Short label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            NegotiationError::NotNegotiation => "not_negotiation",
            NegotiationError::WrongDirection { .. } => "wrong_direction",
            NegotiationError::EmptyLinkId => "empty_link_id",
            NegotiationError::LinkIdMismatch { .. } => "link_id_mismatch",
            NegotiationError::BadVersion(_) => "bad_version",
            NegotiationError::UnknownConnectionType(_) => "unknown_connection_type",
            NegotiationError::MissingKey => "missing_key",
            NegotiationError::BadKey { .. } => "bad_key",
            NegotiationError::MissingKem => "missing_kem",
            NegotiationError::BadKem { .. } => "bad_kem",
            NegotiationError::SelfLink(_) => "self_link",
            NegotiationError::DeploymentMismatch { .. } => "deployment_mismatch",
        }
    }
}

/// The negotiation payload of a message, if it is one.
pub fn payload_of(message: &proto::Message) -> Option<&proto::LinkNegotiationPayload> {
    match message.message_type.as_ref()? {
        proto::message::MessageType::Link(link) => match link.link_type.as_ref()? {
            proto::link::LinkType::LinkNegotiation(payload) => Some(payload),
        },
        _ => None,
    }
}

/// Parses an X25519 public key received on the wire.
fn x25519_public(bytes: &[u8]) -> Result<x25519_dalek::PublicKey, NegotiationError> {
    let raw: [u8; X25519_KEY_LEN] = bytes
        .try_into()
        .map_err(|_| NegotiationError::BadKey { len: bytes.len() })?;
    Ok(x25519_dalek::PublicKey::from(raw))
}

/// Computes the X25519 shared secret, refusing low-order points (an all-zero secret would
/// give a key anyone can compute).
fn x25519_shared(
    secret: x25519_dalek::EphemeralSecret,
    public: &x25519_dalek::PublicKey,
) -> Result<[u8; 32], NegotiationError> {
    let shared = secret.diffie_hellman(public);
    if !shared.was_contributory() {
        return Err(NegotiationError::BadKey {
            len: X25519_KEY_LEN,
        });
    }
    Ok(*shared.as_bytes())
}
