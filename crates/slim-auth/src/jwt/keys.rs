//! JWT key material: where it comes from ([`JwtKeyConfig`]), how it is parsed, and the
//! rotatable set of verification keys ([`JwtKeySet`]).
//!
//! Formats, by algorithm family:
//!
//! | format | HMAC | RSA / ECDSA / EdDSA |
//! |---|---|---|
//! | `pem` | the raw secret bytes (as upstream) | a PEM key (PKCS#8, SPKI, PKCS#1 for RSA) |
//! | `jwk` | an `oct` JWK | a public JWK (verification only) |
//! | `jwks` | a set of the above | a set of the above (verification only) |
//!
//! A verification key remembers its `kid` (from the JWK) and its algorithm (the JWK's `alg`,
//! else inferred from the curve, else the configured algorithm).

use std::io::Read as _;
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};

use base64::Engine as _;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{DecodingKey, DecodingKeyKind, EncodingKey};
use serde::{Deserialize, Serialize};

use super::{Family, JwtAlgorithm, ensure_crypto_backend};

/// Largest key file read, in bytes.
const MAX_KEY_FILE_LEN: u64 = 1024 * 1024;

/// Most keys kept from one JWKS (each may be tried against a token without a matching kid).
pub const MAX_JWKS_KEYS: usize = 64;

/// Where key text comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyData {
    /// The key text itself.
    Data(String),
    /// A file holding the key text, read when the key is loaded.
    File(PathBuf),
}

/// How the key text is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyFormat {
    /// PEM; for HMAC algorithms the raw secret.
    #[default]
    Pem,
    /// One JSON Web Key.
    Jwk,
    /// A JSON Web Key Set (`{"keys": [...]}`).
    Jwks,
}

/// A key for signing or verifying JWTs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtKeyConfig {
    /// Algorithm to sign with, or to verify with when the key itself does not say.
    pub algorithm: JwtAlgorithm,
    /// Encoding of the key text. Default `pem`.
    #[serde(default)]
    pub format: KeyFormat,
    /// The key text or its file.
    pub key: KeyData,
}

/// Why key material could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyLoadError {
    /// The key file could not be read.
    #[error("cannot read key file {path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        reason: String,
    },
    /// The key text is not a key of the expected kind.
    #[error("invalid {algorithm} key: {reason}")]
    Invalid {
        /// The algorithm it was loaded for.
        algorithm: JwtAlgorithm,
        /// What is wrong.
        reason: String,
    },
    /// The format cannot be used this way (e.g. a public JWK to sign).
    #[error("{0}")]
    Unsupported(&'static str),
    /// A JWKS yielded no usable signature key.
    #[error("key set has no usable signature key")]
    NoUsableKey,
}

impl JwtKeyConfig {
    fn text(&self) -> Result<Vec<u8>, KeyLoadError> {
        match &self.key {
            KeyData::Data(text) => Ok(text.as_bytes().to_vec()),
            KeyData::File(path) => {
                let error = |e: std::io::Error| KeyLoadError::File {
                    path: path.clone(),
                    reason: e.to_string(),
                };
                let mut bytes = Vec::new();
                std::fs::File::open(path)
                    .map_err(error)?
                    .take(MAX_KEY_FILE_LEN)
                    .read_to_end(&mut bytes)
                    .map_err(error)?;
                Ok(bytes)
            }
        }
    }

    fn invalid(&self, reason: impl ToString) -> KeyLoadError {
        KeyLoadError::Invalid {
            algorithm: self.algorithm,
            reason: reason.to_string(),
        }
    }

    /// Loads the key for signing.
    pub(crate) fn encoding_key(&self) -> Result<EncodingKey, KeyLoadError> {
        ensure_crypto_backend();
        let text = self.text()?;
        match (self.format, self.algorithm.family()) {
            (KeyFormat::Pem, Family::Hmac) => Ok(EncodingKey::from_secret(&text)),
            (KeyFormat::Pem, Family::Rsa) => {
                EncodingKey::from_rsa_pem(&text).map_err(|e| self.invalid(e))
            }
            (KeyFormat::Pem, Family::Ecdsa) => {
                EncodingKey::from_ec_pem(&text).map_err(|e| self.invalid(e))
            }
            (KeyFormat::Pem, Family::Ed) => {
                EncodingKey::from_ed_pem(&text).map_err(|e| self.invalid(e))
            }
            (KeyFormat::Jwk, Family::Hmac) => {
                let jwk: Jwk = serde_json::from_slice(&text).map_err(|e| self.invalid(e))?;
                match &jwk.algorithm {
                    AlgorithmParameters::OctetKey(oct) => {
                        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD
                            .decode(oct.value.trim_end_matches('='))
                            .map_err(|e| self.invalid(e))?;
                        Ok(EncodingKey::from_secret(&secret))
                    }
                    _ => Err(self.invalid("not an oct JWK")),
                }
            }
            (KeyFormat::Jwk | KeyFormat::Jwks, _) => Err(KeyLoadError::Unsupported(
                "signing keys must be PEM (or an oct JWK for HMAC)",
            )),
        }
    }

    /// Loads the verification keys.
    pub(crate) fn decoding_keys(&self) -> Result<Vec<VerificationKey>, KeyLoadError> {
        ensure_crypto_backend();
        let text = self.text()?;
        match self.format {
            KeyFormat::Pem => {
                let key = match self.algorithm.family() {
                    Family::Hmac => Ok(DecodingKey::from_secret(&text)),
                    Family::Rsa => DecodingKey::from_rsa_pem(&text),
                    Family::Ecdsa => DecodingKey::from_ec_pem(&text),
                    Family::Ed => DecodingKey::from_ed_pem(&text),
                }
                .map_err(|e| self.invalid(e))?;
                if !is_well_formed(&key, self.algorithm) {
                    return Err(self.invalid("not a valid public key"));
                }
                Ok(vec![VerificationKey {
                    kid: None,
                    algorithm: self.algorithm,
                    key,
                }])
            }
            KeyFormat::Jwk => {
                let jwk: Jwk = serde_json::from_slice(&text).map_err(|e| self.invalid(e))?;
                let key = verification_key(&jwk, self.algorithm)
                    .ok_or_else(|| self.invalid("JWK is not a usable signature key"))?;
                Ok(vec![key])
            }
            KeyFormat::Jwks => jwks_keys(&text, self.algorithm),
        }
    }
}

/// Parses a JWKS, keeping the usable signature keys (at most [`MAX_JWKS_KEYS`]). Keys of
/// unknown types, encryption keys and malformed entries are skipped, not fatal.
pub(crate) fn jwks_keys(
    text: &[u8],
    fallback: JwtAlgorithm,
) -> Result<Vec<VerificationKey>, KeyLoadError> {
    #[derive(Deserialize)]
    struct RawSet {
        keys: Vec<serde_json::Value>,
    }
    let set: RawSet = serde_json::from_slice(text).map_err(|e| KeyLoadError::Invalid {
        algorithm: fallback,
        reason: format!("not a JWKS: {e}"),
    })?;
    let keys: Vec<VerificationKey> = set
        .keys
        .into_iter()
        .filter_map(|value| serde_json::from_value::<Jwk>(value).ok())
        .filter_map(|jwk| verification_key(&jwk, fallback))
        .take(MAX_JWKS_KEYS)
        .collect();
    if keys.is_empty() {
        return Err(KeyLoadError::NoUsableKey);
    }
    Ok(keys)
}

/// A key that can verify tokens of one algorithm.
#[derive(Clone)]
pub(crate) struct VerificationKey {
    pub(crate) kid: Option<String>,
    pub(crate) algorithm: JwtAlgorithm,
    pub(crate) key: DecodingKey,
}

fn verification_key(jwk: &Jwk, fallback: JwtAlgorithm) -> Option<VerificationKey> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    let declared = jwk
        .common
        .key_algorithm
        .map(|alg| alg.to_string().parse::<JwtAlgorithm>());
    let algorithm = match declared {
        Some(Ok(algorithm)) => algorithm,
        Some(Err(_)) => return None,
        None => infer_algorithm(&jwk.algorithm, fallback)?,
    };
    let family_matches = matches!(
        (&jwk.algorithm, algorithm.family()),
        (AlgorithmParameters::OctetKey(_), Family::Hmac)
            | (AlgorithmParameters::RSA(_), Family::Rsa)
            | (AlgorithmParameters::EllipticCurve(_), Family::Ecdsa)
            | (AlgorithmParameters::OctetKeyPair(_), Family::Ed)
    );
    if !family_matches {
        return None;
    }
    let key = DecodingKey::from_jwk(jwk).ok()?;
    if !is_well_formed(&key, algorithm) {
        return None;
    }
    Some(VerificationKey {
        kid: jwk.common.key_id.clone(),
        algorithm,
        key,
    })
}

/// Checks point encodings up front. Besides turning a bad key into a load error instead of a
/// failure on every token, this guards the JWT library's Ed25519 verifier, which panics on
/// keys shorter than 32 bytes.
fn is_well_formed(key: &DecodingKey, algorithm: JwtAlgorithm) -> bool {
    let DecodingKeyKind::SecretOrDer(bytes) = key.kind() else {
        // RSA modulus and exponent: the RSA library validates them on use.
        return true;
    };
    match algorithm {
        JwtAlgorithm::EdDSA => <&[u8; 32]>::try_from(bytes.as_slice())
            .is_ok_and(|array| ed25519_dalek::VerifyingKey::from_bytes(array).is_ok()),
        JwtAlgorithm::ES256 => p256::PublicKey::from_sec1_bytes(bytes).is_ok(),
        _ => true,
    }
}

fn infer_algorithm(params: &AlgorithmParameters, fallback: JwtAlgorithm) -> Option<JwtAlgorithm> {
    let family_or = |family: Family, default: JwtAlgorithm| {
        if fallback.family() == family {
            fallback
        } else {
            default
        }
    };
    match params {
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => Some(JwtAlgorithm::ES256),
            EllipticCurve::P384 => Some(JwtAlgorithm::ES384),
            _ => None,
        },
        AlgorithmParameters::OctetKeyPair(okp) => {
            (okp.curve == EllipticCurve::Ed25519).then_some(JwtAlgorithm::EdDSA)
        }
        AlgorithmParameters::RSA(_) => Some(family_or(Family::Rsa, JwtAlgorithm::RS256)),
        AlgorithmParameters::OctetKey(_) => Some(family_or(Family::Hmac, JwtAlgorithm::HS256)),
    }
}

/// The verification keys of a [`super::JwtVerifier`], replaceable at runtime (JWKS rotation).
///
/// A cheap-clone handle: keep one where new key sets arrive (a JWKS refresher, the control
/// API) and call [`JwtKeySet::replace_with_jwks`]; the verifier sees the new keys on its next
/// verification and forgets every result it cached under the old ones.
#[derive(Clone)]
pub struct JwtKeySet {
    inner: Arc<RwLock<KeysVersion>>,
}

pub(crate) struct KeysVersion {
    pub(crate) generation: u64,
    pub(crate) keys: Arc<[VerificationKey]>,
}

impl JwtKeySet {
    pub(crate) fn new(keys: Vec<VerificationKey>) -> Self {
        Self {
            inner: Arc::new(RwLock::new(KeysVersion {
                generation: 0,
                keys: keys.into(),
            })),
        }
    }

    /// Replaces the keys with those of a JWKS document. `fallback` is the algorithm of keys
    /// that do not declare one and whose type does not determine it (RSA, oct).
    pub fn replace_with_jwks(
        &self,
        jwks: &str,
        fallback: JwtAlgorithm,
    ) -> Result<(), KeyLoadError> {
        ensure_crypto_backend();
        let keys = jwks_keys(jwks.as_bytes(), fallback)?;
        self.install(keys);
        Ok(())
    }

    /// Replaces the keys with those loaded from `config`.
    pub fn replace_with_config(&self, config: &JwtKeyConfig) -> Result<(), KeyLoadError> {
        let keys = config.decoding_keys()?;
        self.install(keys);
        Ok(())
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.read().keys.len()
    }

    /// Whether there is no key (never true for a set built from a valid config).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn install(&self, keys: Vec<VerificationKey>) {
        let mut current = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        current.generation = current.generation.wrapping_add(1);
        current.keys = keys.into();
    }

    /// The current keys and their generation (which changes on every replacement).
    pub(crate) fn snapshot(&self) -> (u64, Arc<[VerificationKey]>) {
        let current = self.read();
        (current.generation, Arc::clone(&current.keys))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, KeysVersion> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for JwtKeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let current = self.read();
        f.debug_struct("JwtKeySet")
            .field("generation", &current.generation)
            .field("keys", &current.keys.len())
            .finish()
    }
}
