//! [`JwtProvider`]: signs identity JWTs and reuses each for a while.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use base64::Engine as _;
use jsonwebtoken::{EncodingKey, Header};
use rand_core::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::keys::{JwtKeyConfig, KeyLoadError};
use super::{DEFAULT_REFRESH_INTERVAL_SECS, DEFAULT_TOKEN_LIFETIME_SECS, REGISTERED_CLAIMS};
use crate::claims::PUBKEY_CLAIM;
use crate::identity::{IdentityProvider, ProviderError, unix_seconds};
use crate::keys::SigningKey;

/// Configuration of a [`JwtProvider`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtProviderConfig {
    /// The signing key (PEM; for HMAC the raw secret or an `oct` JWK).
    pub key: JwtKeyConfig,
    /// `sub`, also the header `kid` and the token id the app id derives from. Required.
    pub subject: String,
    /// `iss`. Default none.
    #[serde(default)]
    pub issuer: Option<String>,
    /// `aud`, sent as an array. Default none (claim omitted).
    #[serde(default)]
    pub audience: Vec<String>,
    /// Seconds from `iat` to `exp`. Default 3600.
    #[serde(default = "default_lifetime")]
    pub token_lifetime_secs: u64,
    /// Seconds a signed token is reused. Default 300; 0 signs per message. Must be below the
    /// lifetime.
    #[serde(default = "default_refresh")]
    pub refresh_interval_secs: u64,
    /// Adds a random `jti` so single tokens can be revoked. Default false (upstream sends
    /// none).
    #[serde(default)]
    pub include_jti: bool,
    /// Extra claims next to `pubkey` (reserved, as are the registered JWT claims).
    #[serde(default)]
    pub custom_claims: Map<String, Value>,
}

fn default_lifetime() -> u64 {
    DEFAULT_TOKEN_LIFETIME_SECS
}

fn default_refresh() -> u64 {
    DEFAULT_REFRESH_INTERVAL_SECS
}

/// Why a [`JwtProvider`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtProviderError {
    /// The signing key could not be loaded.
    #[error(transparent)]
    Key(#[from] KeyLoadError),
    /// The subject is empty.
    #[error("JWT provider needs a non-empty subject")]
    MissingSubject,
    /// The refresh interval is not below the token lifetime.
    #[error("refresh interval ({refresh}s) must be below the token lifetime ({lifetime}s)")]
    RefreshNotBelowLifetime {
        /// Configured refresh interval.
        refresh: u64,
        /// Configured lifetime.
        lifetime: u64,
    },
    /// A custom claim uses a reserved name.
    #[error("custom claim {0} is reserved")]
    ReservedClaim(String),
}

/// Proves identity with JWTs signed by a local key.
pub struct JwtProvider {
    encoding_key: EncodingKey,
    header: Header,
    subject: String,
    issuer: Option<String>,
    audience: Vec<String>,
    lifetime_secs: u64,
    refresh_interval_secs: u64,
    include_jti: bool,
    /// `pubkey` plus the custom claims.
    extra_claims: Map<String, Value>,
    signing_key: SigningKey,
    state: Mutex<SignState>,
}

struct SignState {
    rng: Box<dyn RngCore + Send>,
    cached: Option<(u64, Arc<str>)>,
}

/// The claim set in upstream's order.
#[derive(Serialize)]
struct TokenClaims<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    sub: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    aud: &'a [String],
    exp: u64,
    iat: u64,
    nbf: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    jti: Option<String>,
    #[serde(flatten)]
    extra: &'a Map<String, Value>,
}

impl JwtProvider {
    /// Builds a provider; randomness (only used for `jti`) comes from the OS.
    pub fn new(
        config: &JwtProviderConfig,
        signing_key: SigningKey,
    ) -> Result<Self, JwtProviderError> {
        Self::with_rng(config, signing_key, rand_core::OsRng)
    }

    /// Builds a provider drawing `jti` values from `rng`.
    pub fn with_rng<R>(
        config: &JwtProviderConfig,
        signing_key: SigningKey,
        rng: R,
    ) -> Result<Self, JwtProviderError>
    where
        R: RngCore + CryptoRng + Send + 'static,
    {
        if config.subject.is_empty() {
            return Err(JwtProviderError::MissingSubject);
        }
        if config.refresh_interval_secs >= config.token_lifetime_secs {
            return Err(JwtProviderError::RefreshNotBelowLifetime {
                refresh: config.refresh_interval_secs,
                lifetime: config.token_lifetime_secs,
            });
        }
        if let Some(reserved) = config
            .custom_claims
            .keys()
            .find(|name| *name == PUBKEY_CLAIM || REGISTERED_CLAIMS.contains(&name.as_str()))
        {
            return Err(JwtProviderError::ReservedClaim(reserved.clone()));
        }
        let encoding_key = config.key.encoding_key()?;
        let mut header = Header::new(config.key.algorithm.to_jsonwebtoken());
        header.kid = Some(config.subject.clone());
        let mut extra_claims = config.custom_claims.clone();
        extra_claims.insert(
            PUBKEY_CLAIM.to_owned(),
            Value::String(signing_key.public_key_base64()),
        );
        Ok(Self {
            encoding_key,
            header,
            subject: config.subject.clone(),
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            lifetime_secs: config.token_lifetime_secs,
            refresh_interval_secs: config.refresh_interval_secs,
            include_jti: config.include_jti,
            extra_claims,
            signing_key,
            state: Mutex::new(SignState {
                rng: Box::new(rng),
                cached: None,
            }),
        })
    }

    /// Signs a fresh token issued at `now`, bypassing (and not updating) the cache.
    pub fn sign(&self, now: SystemTime) -> Result<String, ProviderError> {
        let now = unix_seconds(now).ok_or(ProviderError::ClockBeforeEpoch)?;
        let mut state = self.lock();
        self.sign_at(&mut state, now)
    }

    fn sign_at(&self, state: &mut SignState, now: u64) -> Result<String, ProviderError> {
        let jti = self.include_jti.then(|| {
            let mut bytes = [0u8; 16];
            state.rng.fill_bytes(&mut bytes);
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        });
        let claims = TokenClaims {
            iss: self.issuer.as_deref(),
            sub: &self.subject,
            aud: &self.audience,
            exp: now.saturating_add(self.lifetime_secs),
            iat: now,
            nbf: now,
            jti,
            extra: &self.extra_claims,
        };
        jsonwebtoken::encode(&self.header, &claims, &self.encoding_key)
            .map_err(|e| ProviderError::JwtSigning(e.to_string()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SignState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl IdentityProvider for JwtProvider {
    fn token(&self, now: SystemTime) -> Result<Arc<str>, ProviderError> {
        let now = unix_seconds(now).ok_or(ProviderError::ClockBeforeEpoch)?;
        let mut state = self.lock();
        if let Some((issued_at, token)) = &state.cached
            && *issued_at <= now
            && now - *issued_at < self.refresh_interval_secs
        {
            return Ok(Arc::clone(token));
        }
        let token: Arc<str> = self.sign_at(&mut state, now)?.into();
        state.cached = Some((now, Arc::clone(&token)));
        Ok(token)
    }

    fn token_id(&self) -> &str {
        &self.subject
    }

    fn signing_key(&self) -> &SigningKey {
        &self.signing_key
    }
}

impl std::fmt::Debug for JwtProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtProvider")
            .field("algorithm", &self.header.alg)
            .field("subject", &self.subject)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}
