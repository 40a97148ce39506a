//! Shared-secret identity tokens, byte-compatible with upstream SLIM.
//!
//! A token is five `:`-separated fields:
//!
//! ```text
//! <id>:<unix_ts>:<nonce>:<claims>:<mac>
//! ```
//!
//! - `id` — `<base_id>_<8 random ASCII alphanumerics>`, fixed for the provider's lifetime; the
//!   application's instance id is derived from it. It never contains `:` or whitespace.
//! - `unix_ts` — issue time, decimal seconds.
//! - `nonce` — 12 random bytes, base64url without padding.
//! - `claims` — base64url (no padding) of a JSON object: `{"pubkey":"<base64 std>"}` plus any
//!   configured custom claims.
//! - `mac` — base64url (no padding) of HMAC-SHA256(secret, everything before the last `:`).
//!
//! The secret must be at least 32 bytes. A verifier accepts a token whose MAC matches, whose
//! timestamp is at most [`DEFAULT_VALIDITY_SECS`] old and at most [`DEFAULT_MAX_CLOCK_SKEW_SECS`]
//! in the future, and (optionally) that it has not seen before.
//!
//! **Isolation is by secret only.** Like upstream, the verifier accepts any `id`: every holder
//! of the secret can claim any identity. Where that matters, configure
//! [`SharedSecretVerifierConfig::allowed_ids`] (our addition) or use JWTs.
//!
//! **Token reuse.** Upstream mints a fresh token (an HMAC and ~230 bytes) for every message.
//! [`SharedSecretProvider`] instead reuses its token for
//! [`SharedSecretProviderConfig::refresh_interval_secs`] (default 5 minutes, far inside the
//! verifiers' validity window), so stamping a message costs a lock and a reference count.
//! A peer that enables a replay cache keyed on tokens would reject the reuse; set the
//! interval to 0 to mint per message when talking to such a peer.
//!
//! Files: [`token`] formats and parses the wire form, `provider.rs` mints and caches,
//! `verifier.rs` checks (with the bounded replay cache), `tests.rs` covers the format.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

mod provider;
pub mod token;
mod verifier;

pub use provider::SharedSecretProvider;
pub use verifier::SharedSecretVerifier;

/// Smallest accepted secret, in bytes (upstream: "hmac key is too short").
pub const MIN_SECRET_LEN: usize = 32;

/// Default seconds a token stays valid after its timestamp (upstream's default).
pub const DEFAULT_VALIDITY_SECS: u64 = 3600;

/// Default seconds a token's timestamp may be ahead of the verifier's clock (upstream's).
pub const DEFAULT_MAX_CLOCK_SKEW_SECS: u64 = 5;

/// Default seconds a provider reuses a token before minting a fresh one.
pub const DEFAULT_REFRESH_INTERVAL_SECS: u64 = 300;

/// Number of random alphanumerics appended to the base id.
pub const ID_SUFFIX_LEN: usize = 8;

/// Length of the random nonce, in bytes.
pub const NONCE_LEN: usize = 12;

/// Longest token a verifier looks at. Legitimate tokens are ~230 bytes plus custom claims.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Why a provider or verifier could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SharedSecretError {
    /// The secret is shorter than [`MIN_SECRET_LEN`].
    #[error("shared secret of {len} bytes is too short (at least {MIN_SECRET_LEN} required)")]
    SecretTooShort {
        /// Length given.
        len: usize,
    },
    /// The base id is empty or contains `:` or whitespace.
    #[error("invalid identity id: {0}")]
    InvalidId(&'static str),
    /// A custom claim uses a name the token reserves.
    #[error("custom claim {0} is reserved")]
    ReservedClaim(String),
}

/// Configuration of a [`SharedSecretProvider`].
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedSecretProviderConfig {
    /// Base id; the token id becomes `<id>_<8 random alphanumerics>`. Upstream apps use their
    /// name, e.g. `org/ns/svc`. Must not be empty nor contain `:` or whitespace.
    pub id: String,
    /// The secret shared with the verifiers (UTF-8 bytes, at least 32).
    pub secret: String,
    /// Seconds a token is reused before a fresh one is minted. Default 300; 0 mints a fresh
    /// token for every message (upstream's behaviour). Keep it well below the verifiers'
    /// validity window (default 3600 s).
    #[serde(default = "default_refresh_interval")]
    pub refresh_interval_secs: u64,
    /// Extra claims placed next to `pubkey` (which is reserved). Default none.
    #[serde(default)]
    pub custom_claims: Map<String, Value>,
}

impl SharedSecretProviderConfig {
    /// A config with the default refresh interval and no custom claims.
    pub fn new(id: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            secret: secret.into(),
            refresh_interval_secs: DEFAULT_REFRESH_INTERVAL_SECS,
            custom_claims: Map::new(),
        }
    }
}

impl std::fmt::Debug for SharedSecretProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedSecretProviderConfig")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .field("refresh_interval_secs", &self.refresh_interval_secs)
            .field("custom_claims", &self.custom_claims)
            .finish()
    }
}

/// Configuration of a [`SharedSecretVerifier`].
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedSecretVerifierConfig {
    /// Ignored: accepted so upstream configurations (`{id, data}`) carry over. The verifier
    /// does not check token ids unless [`Self::allowed_ids`] is set.
    #[serde(default)]
    pub id: Option<String>,
    /// The shared secret (UTF-8 bytes, at least 32).
    pub secret: String,
    /// Seconds a token stays valid after its timestamp. Default 3600.
    #[serde(default = "default_validity")]
    pub validity_secs: u64,
    /// Seconds a token's timestamp may be ahead of our clock. Default 5.
    #[serde(default = "default_skew")]
    pub max_clock_skew_secs: u64,
    /// Capacity of the replay cache (tokens seen within their validity are rejected when
    /// seen again). Default 0 = off, like upstream; do not enable it for peers that reuse
    /// tokens (this crate's providers do, see the module docs).
    #[serde(default)]
    pub replay_cache_capacity: usize,
    /// When non-empty, only tokens whose id is listed, or whose base id (the id without its
    /// `_<8 alphanumerics>` suffix) is listed, are accepted. Default empty = any id
    /// (upstream's behaviour).
    #[serde(default)]
    pub allowed_ids: Vec<String>,
}

impl SharedSecretVerifierConfig {
    /// A config with upstream's defaults.
    pub fn new(secret: impl Into<String>) -> Self {
        Self {
            id: None,
            secret: secret.into(),
            validity_secs: DEFAULT_VALIDITY_SECS,
            max_clock_skew_secs: DEFAULT_MAX_CLOCK_SKEW_SECS,
            replay_cache_capacity: 0,
            allowed_ids: Vec::new(),
        }
    }
}

impl std::fmt::Debug for SharedSecretVerifierConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedSecretVerifierConfig")
            .field("secret", &"<redacted>")
            .field("validity_secs", &self.validity_secs)
            .field("max_clock_skew_secs", &self.max_clock_skew_secs)
            .field("replay_cache_capacity", &self.replay_cache_capacity)
            .field("allowed_ids", &self.allowed_ids)
            .finish_non_exhaustive()
    }
}

fn default_refresh_interval() -> u64 {
    DEFAULT_REFRESH_INTERVAL_SECS
}

fn default_validity() -> u64 {
    DEFAULT_VALIDITY_SECS
}

fn default_skew() -> u64 {
    DEFAULT_MAX_CLOCK_SKEW_SECS
}

/// Checks the secret length and returns the keyed MAC, ready to clone per token.
fn keyed_mac(secret: &str) -> Result<token::HmacSha256, SharedSecretError> {
    use hmac::Mac as _;
    if secret.len() < MIN_SECRET_LEN {
        return Err(SharedSecretError::SecretTooShort { len: secret.len() });
    }
    token::HmacSha256::new_from_slice(secret.as_bytes())
        .map_err(|_| SharedSecretError::SecretTooShort { len: secret.len() })
}

#[cfg(test)]
mod tests;
