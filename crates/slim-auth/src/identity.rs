//! The two roles the session layer holds as trait objects: an [`IdentityProvider`] that
//! stamps outgoing messages and an [`IdentityVerifier`] that checks incoming ones.
//!
//! Both take the current time as a parameter (this crate does no I/O and reads no clock), and
//! both are `Send + Sync` so one instance can serve every session of an application.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::claims::Claims;
use crate::keys::SigningKey;
use crate::revocation::Revocation;

/// Proves this application's identity to peers.
pub trait IdentityProvider: Send + Sync {
    /// The token to put in `SLIMHeader.identity` of a message sent at `now`. Implementations
    /// cache their token and re-mint it only when it gets old, so calling this for every
    /// message is cheap (a lock and a reference-count increment).
    fn token(&self, now: SystemTime) -> Result<Arc<str>, ProviderError>;

    /// The stable id of this identity: `<base_id>_<random>` for shared secrets, the subject for
    /// JWTs. Upstream derives the application's instance id from it
    /// (`slim_wire::hash::instance_id_for(token_id)`).
    fn token_id(&self) -> &str;

    /// The key whose public half is the token's `pubkey` claim. Sign headers and MLS
    /// messages with it.
    fn signing_key(&self) -> &SigningKey;
}

/// Checks identity tokens received from peers.
pub trait IdentityVerifier: Send + Sync {
    /// Verifies `token` as of `now` and returns its claims.
    fn verify(&self, token: &str, now: SystemTime) -> Result<Claims, VerifyError>;
}

/// Why a token could not be produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// `now` is before 1970.
    #[error("clock is before the unix epoch")]
    ClockBeforeEpoch,
    /// Signing a JWT failed.
    #[error("cannot sign JWT: {0}")]
    JwtSigning(String),
    /// A static token file could not be read or holds no usable token.
    #[error("static token unavailable: {0}")]
    StaticToken(String),
}

/// Why a received token was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The token is longer than any legitimate token (bounds the work done on garbage).
    #[error("token of {len} bytes exceeds the {max}-byte limit")]
    TooLong {
        /// Length received.
        len: usize,
        /// Limit applied.
        max: usize,
    },
    /// The token does not have the expected structure.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The MAC or signature does not match.
    #[error("token signature does not verify")]
    BadSignature,
    /// No configured key can verify this token (unknown `kid` or algorithm).
    #[error("no key matches the token")]
    NoMatchingKey,
    /// The token expired.
    #[error("token expired at {expired_at} (now {now})")]
    Expired {
        /// Expiry, unix seconds.
        expired_at: u64,
        /// Verification time, unix seconds.
        now: u64,
    },
    /// The token is not valid yet (issued in the future beyond the allowed skew, or `nbf`).
    #[error("token not valid before {valid_from} (now {now})")]
    NotYetValid {
        /// First valid second, unix.
        valid_from: u64,
        /// Verification time, unix seconds.
        now: u64,
    },
    /// This exact token was seen before and the verifier's replay cache is on.
    #[error("token replayed")]
    Replayed,
    /// The identity or token is on the revocation list.
    #[error("token revoked: {0}")]
    Revoked(Revocation),
    /// A required claim is absent or has the wrong type.
    #[error("missing or invalid claim {0}")]
    MissingClaim(&'static str),
    /// `aud`, `iss` or `sub` differs from what the verifier requires.
    #[error("claim {0} does not match the verifier's requirement")]
    ClaimMismatch(&'static str),
    /// The token id is not on the verifier's allow-list.
    #[error("identity {0} is not allowed")]
    NotAllowed(String),
    /// `now` is before 1970.
    #[error("clock is before the unix epoch")]
    ClockBeforeEpoch,
}

/// Whole seconds since the unix epoch.
pub(crate) fn unix_seconds(now: SystemTime) -> Option<u64> {
    now.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
}
