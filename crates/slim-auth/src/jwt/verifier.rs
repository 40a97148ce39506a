//! [`JwtVerifier`]: verifies identity JWTs against a rotatable key set, checks time, audience,
//! issuer, subject and revocation, and caches recent results.
//!
//! The cache matters because peers reuse tokens (ours for minutes) and signature checks are
//! not free (ES256 ~100 µs, RS256 less, but per control message). A cached result is keyed by
//! the SHA-256 of the token, tied to the key-set generation it was verified under, and still
//! re-checked for time and revocation on every hit.

use std::num::NonZeroUsize;
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Validation, decode, decode_header};
use lru::LruCache;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use super::keys::{JwtKeyConfig, JwtKeySet, KeyLoadError, VerificationKey};
use super::{DEFAULT_LEEWAY_SECS, JwtAlgorithm, MAX_JWT_LEN, REGISTERED_CLAIMS};
use crate::claims::Claims;
use crate::identity::{IdentityVerifier, VerifyError, unix_seconds};
use crate::revocation::RevocationList;

/// Configuration of a [`JwtVerifier`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtVerifierConfig {
    /// Verification key(s): a PEM public key (HMAC: the secret), a JWK or a JWKS.
    pub key: JwtKeyConfig,
    /// Accepted audiences; a token must name at least one. Default empty = not checked.
    #[serde(default)]
    pub audience: Vec<String>,
    /// Required `iss`. Default none = not checked.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Required `sub`. Default none = not checked.
    #[serde(default)]
    pub subject: Option<String>,
    /// Clock leeway for `exp` and `nbf`, seconds. Default 60.
    #[serde(default = "default_leeway")]
    pub leeway_secs: u64,
    /// Reject tokens without `exp`. Default true.
    #[serde(default = "default_true")]
    pub require_exp: bool,
    /// Verified tokens remembered (0 disables the cache). Default 1024.
    #[serde(default = "default_cache")]
    pub cache_capacity: usize,
}

fn default_leeway() -> u64 {
    DEFAULT_LEEWAY_SECS
}

fn default_true() -> bool {
    true
}

fn default_cache() -> usize {
    1024
}

impl JwtVerifierConfig {
    /// A config with the defaults and the given key.
    pub fn new(key: JwtKeyConfig) -> Self {
        Self {
            key,
            audience: Vec::new(),
            issuer: None,
            subject: None,
            leeway_secs: DEFAULT_LEEWAY_SECS,
            require_exp: true,
            cache_capacity: default_cache(),
        }
    }
}

/// Verifies identity JWTs.
pub struct JwtVerifier {
    keys: JwtKeySet,
    audience: Vec<String>,
    issuer: Option<String>,
    subject: Option<String>,
    leeway_secs: u64,
    require_exp: bool,
    revocation: Option<RevocationList>,
    cache: Option<Mutex<LruCache<[u8; 32], CachedClaims>>>,
}

impl JwtVerifier {
    /// Loads the keys and builds the verifier.
    pub fn new(config: &JwtVerifierConfig) -> Result<Self, KeyLoadError> {
        let keys = JwtKeySet::new(config.key.decoding_keys()?);
        Ok(Self {
            keys,
            audience: config.audience.clone(),
            issuer: config.issuer.clone(),
            subject: config.subject.clone(),
            leeway_secs: config.leeway_secs,
            require_exp: config.require_exp,
            revocation: None,
            cache: NonZeroUsize::new(config.cache_capacity)
                .map(|capacity| Mutex::new(LruCache::new(capacity))),
        })
    }

    /// Also rejects tokens whose `sub` or `jti` is on `list`.
    pub fn with_revocation(mut self, list: RevocationList) -> Self {
        self.revocation = Some(list);
        self
    }

    /// The handle through which the verification keys can be replaced at runtime.
    pub fn key_set(&self) -> JwtKeySet {
        self.keys.clone()
    }

    /// Finds a key that verifies the token's signature and returns the raw claims.
    fn verify_signature(
        &self,
        token: &str,
        keys: &[VerificationKey],
    ) -> Result<Map<String, Value>, VerifyError> {
        let header =
            decode_header(token).map_err(|_| VerifyError::Malformed("undecodable JWT header"))?;
        let algorithm = JwtAlgorithm::from_jsonwebtoken(header.alg);
        let same_algorithm = || keys.iter().filter(|key| key.algorithm == algorithm);
        // Upstream's kid is the subject rather than a key id, so a kid naming no key means
        // "try them all", not "reject".
        let kid_matches = |key: &&VerificationKey| {
            header.kid.is_some() && key.kid.as_deref() == header.kid.as_deref()
        };
        let candidates: Vec<&VerificationKey> = if same_algorithm().any(|k| kid_matches(&k)) {
            same_algorithm().filter(kid_matches).collect()
        } else {
            same_algorithm().collect()
        };
        if candidates.is_empty() {
            return Err(VerifyError::NoMatchingKey);
        }
        let mut validation = Validation::new(header.alg);
        // Time, audience and issuer are checked by `check_claims` against the `now` passed in.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        validation.leeway = 0;
        let mut last_error = VerifyError::NoMatchingKey;
        for candidate in candidates {
            match decode::<Map<String, Value>>(token, &candidate.key, &validation) {
                Ok(data) => return Ok(data.claims),
                Err(error) => match error.kind() {
                    ErrorKind::InvalidSignature => last_error = VerifyError::BadSignature,
                    ErrorKind::InvalidEcdsaKey
                    | ErrorKind::InvalidEddsaKey
                    | ErrorKind::InvalidRsaKey(_)
                    | ErrorKind::InvalidKeyFormat
                    | ErrorKind::InvalidAlgorithm => {}
                    _ => return Err(VerifyError::Malformed("invalid JWT encoding")),
                },
            }
        }
        Err(last_error)
    }

    fn check_claims(&self, claims: &Claims, nbf: Option<u64>, now: u64) -> Result<(), VerifyError> {
        match claims.exp {
            Some(exp) if now > exp.saturating_add(self.leeway_secs) => {
                return Err(VerifyError::Expired {
                    expired_at: exp,
                    now,
                });
            }
            None if self.require_exp => return Err(VerifyError::MissingClaim("exp")),
            _ => {}
        }
        if let Some(nbf) = nbf
            && now.saturating_add(self.leeway_secs) < nbf
        {
            return Err(VerifyError::NotYetValid {
                valid_from: nbf,
                now,
            });
        }
        if !self.audience.is_empty() && !claims.aud.iter().any(|a| self.audience.contains(a)) {
            return Err(VerifyError::ClaimMismatch("aud"));
        }
        if let Some(issuer) = &self.issuer
            && claims.iss.as_ref() != Some(issuer)
        {
            return Err(VerifyError::ClaimMismatch("iss"));
        }
        if let Some(subject) = &self.subject
            && &claims.sub != subject
        {
            return Err(VerifyError::ClaimMismatch("sub"));
        }
        if let Some(list) = &self.revocation {
            list.check(claims).map_err(VerifyError::Revoked)?;
        }
        Ok(())
    }
}

impl IdentityVerifier for JwtVerifier {
    fn verify(&self, token: &str, now: SystemTime) -> Result<Claims, VerifyError> {
        let now = unix_seconds(now).ok_or(VerifyError::ClockBeforeEpoch)?;
        if token.len() > MAX_JWT_LEN {
            return Err(VerifyError::TooLong {
                len: token.len(),
                max: MAX_JWT_LEN,
            });
        }
        let (generation, keys) = self.keys.snapshot();
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(cache) = &self.cache {
            let hit = cache
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&digest)
                .filter(|cached| cached.generation == generation)
                .map(|cached| (cached.claims.clone(), cached.nbf));
            if let Some((claims, nbf)) = hit {
                self.check_claims(&claims, nbf, now)?;
                return Ok(claims);
            }
        }

        let raw = self.verify_signature(token, &keys)?;
        let (claims, nbf) = claims_from_raw(raw)?;
        self.check_claims(&claims, nbf, now)?;
        if let Some(cache) = &self.cache {
            cache.lock().unwrap_or_else(PoisonError::into_inner).put(
                digest,
                CachedClaims {
                    generation,
                    claims: claims.clone(),
                    nbf,
                },
            );
        }
        Ok(claims)
    }
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("keys", &self.keys)
            .field("audience", &self.audience)
            .field("issuer", &self.issuer)
            .field("subject", &self.subject)
            .field("leeway_secs", &self.leeway_secs)
            .finish_non_exhaustive()
    }
}

/// A verified token: its claims, its `nbf`, and the key-set generation that verified it.
struct CachedClaims {
    generation: u64,
    claims: Claims,
    nbf: Option<u64>,
}

/// Splits raw JWT claims into [`Claims`] (registered claims lifted out, the rest custom) and
/// the `nbf` value.
fn claims_from_raw(mut raw: Map<String, Value>) -> Result<(Claims, Option<u64>), VerifyError> {
    let numeric = |raw: &Map<String, Value>, name: &'static str| match raw.get(name) {
        None => Ok(None),
        Some(value) => value
            .as_u64()
            .or_else(|| value.as_f64().filter(|v| *v >= 0.0).map(|v| v as u64))
            .map(Some)
            .ok_or(VerifyError::MissingClaim(name)),
    };
    let text = |raw: &Map<String, Value>, name: &'static str| match raw.get(name) {
        None => Ok(None),
        Some(Value::String(value)) => Ok(Some(value.clone())),
        Some(_) => Err(VerifyError::MissingClaim(name)),
    };
    let sub = text(&raw, "sub")?.ok_or(VerifyError::MissingClaim("sub"))?;
    let iat = numeric(&raw, "iat")?;
    let exp = numeric(&raw, "exp")?;
    let nbf = numeric(&raw, "nbf")?;
    let iss = text(&raw, "iss")?;
    let jti = text(&raw, "jti")?;
    let aud = match raw.get("aud") {
        None => Vec::new(),
        Some(Value::String(one)) => vec![one.clone()],
        Some(Value::Array(many)) => many
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or(VerifyError::MissingClaim("aud"))?,
        Some(_) => return Err(VerifyError::MissingClaim("aud")),
    };
    for name in REGISTERED_CLAIMS {
        raw.remove(name);
    }
    let claims = Claims {
        sub,
        iat,
        exp,
        iss,
        aud,
        jti,
        custom: raw,
    };
    Ok((claims, nbf))
}
