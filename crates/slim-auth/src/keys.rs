//! Signature keys of an application: the key that signs control-message headers end to end
//! and that MLS uses as the member's signature key.
//!
//! Two schemes, chosen like upstream SLIM so that keys and signatures interoperate:
//!
//! | scheme | public key bytes | signature bytes |
//! |---|---|---|
//! | ECDSA P-256 / SHA-256 (default) | uncompressed SEC1 point, 65 bytes (`0x04‖X‖Y`); 33-byte compressed accepted on verify | DER `ECDSA-Sig-Value` |
//! | Ed25519 | 32 bytes | 64 bytes |
//!
//! A verifier never needs to be told the scheme: [`VerifyingKey::from_bytes`] picks it from the
//! key length (32 → Ed25519, 33 or 65 → P-256). That is how a peer's key travels: as the
//! base64 `pubkey` claim of its identity token.
//!
//! Private keys are exposed as raw bytes ([`SigningKey::private_bytes`]) because the MLS layer
//! builds its own signer from the same key: the big-endian P-256 scalar or the Ed25519 seed.

use std::fmt;

use p256::ecdsa::signature::{Signer as _, Verifier as _};
use rand_core::CryptoRngCore;
use zeroize::Zeroizing;

/// Length of a P-256 scalar and of an Ed25519 seed, in bytes.
const PRIVATE_KEY_LEN: usize = 32;

/// The signature algorithm of a key.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum SignatureScheme {
    /// ECDSA over NIST P-256 with SHA-256, DER signatures. Upstream's default.
    #[default]
    EcdsaP256Sha256,
    /// Ed25519 (RFC 8032), 64-byte signatures.
    Ed25519,
}

/// Why a key could not be built from bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The private key has a length the scheme cannot use.
    #[error("{scheme:?} private key must be at most 32 bytes (Ed25519: exactly 32), got {len}")]
    PrivateKeyLength {
        /// The scheme asked for.
        scheme: SignatureScheme,
        /// The length received.
        len: usize,
    },
    /// The private scalar is zero or not below the group order.
    #[error("P-256 private scalar out of range")]
    InvalidScalar,
    /// The public key length matches no scheme (32, 33 or 65 bytes).
    #[error("public key of {0} bytes matches no signature scheme (32, 33 or 65 expected)")]
    PublicKeyLength(usize),
    /// The bytes are not a valid point of the curve.
    #[error("invalid {0:?} public key")]
    InvalidPublicKey(SignatureScheme),
}

/// Why a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The public key could not be decoded.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The signature bytes are not a well-formed signature of the key's scheme.
    #[error("malformed {0:?} signature")]
    Malformed(SignatureScheme),
    /// The signature is well formed but does not match the message and key.
    #[error("{0:?} signature does not verify")]
    Mismatch(SignatureScheme),
}

/// A private signature key. Cloning copies the secret; `Debug` never prints it.
#[derive(Clone)]
pub struct SigningKey {
    inner: SigningInner,
}

#[derive(Clone)]
enum SigningInner {
    P256(p256::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
}

impl SigningKey {
    /// Generates a fresh key of `scheme` from `rng`.
    pub fn generate(scheme: SignatureScheme, rng: &mut impl CryptoRngCore) -> Self {
        let inner = match scheme {
            SignatureScheme::EcdsaP256Sha256 => {
                SigningInner::P256(p256::ecdsa::SigningKey::random(rng))
            }
            SignatureScheme::Ed25519 => {
                SigningInner::Ed25519(ed25519_dalek::SigningKey::generate(rng))
            }
        };
        Self { inner }
    }

    /// Rebuilds a key from its raw private bytes: a big-endian P-256 scalar (shorter inputs are
    /// left-padded with zeros, as some providers return them without leading zero bytes) or a
    /// 32-byte Ed25519 seed.
    pub fn from_private_bytes(scheme: SignatureScheme, bytes: &[u8]) -> Result<Self, KeyError> {
        let length_error = KeyError::PrivateKeyLength {
            scheme,
            len: bytes.len(),
        };
        let inner = match scheme {
            SignatureScheme::EcdsaP256Sha256 => {
                if bytes.is_empty() || bytes.len() > PRIVATE_KEY_LEN {
                    return Err(length_error);
                }
                let mut padded = Zeroizing::new([0u8; PRIVATE_KEY_LEN]);
                padded[PRIVATE_KEY_LEN - bytes.len()..].copy_from_slice(bytes);
                let field_bytes = p256::FieldBytes::from(*padded);
                let key = p256::ecdsa::SigningKey::from_bytes(&field_bytes)
                    .map_err(|_| KeyError::InvalidScalar)?;
                SigningInner::P256(key)
            }
            SignatureScheme::Ed25519 => {
                let seed: &[u8; PRIVATE_KEY_LEN] = bytes.try_into().map_err(|_| length_error)?;
                SigningInner::Ed25519(ed25519_dalek::SigningKey::from_bytes(seed))
            }
        };
        Ok(Self { inner })
    }

    /// The scheme of this key.
    pub fn scheme(&self) -> SignatureScheme {
        match self.inner {
            SigningInner::P256(_) => SignatureScheme::EcdsaP256Sha256,
            SigningInner::Ed25519(_) => SignatureScheme::Ed25519,
        }
    }

    /// The raw private key: the 32-byte big-endian P-256 scalar or the 32-byte Ed25519 seed.
    pub fn private_bytes(&self) -> Zeroizing<Vec<u8>> {
        match &self.inner {
            SigningInner::P256(key) => Zeroizing::new(key.to_bytes().to_vec()),
            SigningInner::Ed25519(key) => Zeroizing::new(key.to_bytes().to_vec()),
        }
    }

    /// The public half.
    pub fn verifying_key(&self) -> VerifyingKey {
        let inner = match &self.inner {
            SigningInner::P256(key) => VerifyingInner::P256(*key.verifying_key()),
            SigningInner::Ed25519(key) => VerifyingInner::Ed25519(key.verifying_key()),
        };
        VerifyingKey { inner }
    }

    /// The public key bytes as they travel in the `pubkey` claim: 65-byte uncompressed SEC1
    /// point or 32-byte Ed25519 key.
    pub fn public_key_bytes(&self) -> Vec<u8> {
        self.verifying_key().to_bytes()
    }

    /// The `pubkey` claim value: standard base64 (with padding) of [`Self::public_key_bytes`].
    pub fn public_key_base64(&self) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(self.public_key_bytes())
    }

    /// Signs `message`: a DER ECDSA signature (deterministic, RFC 6979) or a 64-byte Ed25519
    /// signature.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match &self.inner {
            SigningInner::P256(key) => {
                let signature: p256::ecdsa::DerSignature = key.sign(message);
                signature.as_bytes().to_vec()
            }
            SigningInner::Ed25519(key) => key.sign(message).to_bytes().to_vec(),
        }
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("scheme", &self.scheme())
            .field("public_key", &self.public_key_base64())
            .finish_non_exhaustive()
    }
}

/// A public signature key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct VerifyingKey {
    inner: VerifyingInner,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum VerifyingInner {
    P256(p256::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl VerifyingKey {
    /// Decodes a public key, choosing the scheme from its length: 32 bytes → Ed25519,
    /// 33 (compressed) or 65 (uncompressed) bytes → P-256.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let inner = match bytes.len() {
            32 => {
                let array: &[u8; 32] = bytes
                    .try_into()
                    .map_err(|_| KeyError::PublicKeyLength(bytes.len()))?;
                let key = ed25519_dalek::VerifyingKey::from_bytes(array)
                    .map_err(|_| KeyError::InvalidPublicKey(SignatureScheme::Ed25519))?;
                VerifyingInner::Ed25519(key)
            }
            33 | 65 => {
                let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(bytes)
                    .map_err(|_| KeyError::InvalidPublicKey(SignatureScheme::EcdsaP256Sha256))?;
                VerifyingInner::P256(key)
            }
            other => return Err(KeyError::PublicKeyLength(other)),
        };
        Ok(Self { inner })
    }

    /// The scheme of this key.
    pub fn scheme(&self) -> SignatureScheme {
        match self.inner {
            VerifyingInner::P256(_) => SignatureScheme::EcdsaP256Sha256,
            VerifyingInner::Ed25519(_) => SignatureScheme::Ed25519,
        }
    }

    /// Canonical bytes: uncompressed SEC1 (65 bytes) or Ed25519 (32 bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        match &self.inner {
            VerifyingInner::P256(key) => key.to_encoded_point(false).as_bytes().to_vec(),
            VerifyingInner::Ed25519(key) => key.to_bytes().to_vec(),
        }
    }

    /// Checks `signature` over `message`. P-256 signatures must be DER; Ed25519 signatures are
    /// checked strictly (no small-order keys, canonical encodings).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), SignatureError> {
        match &self.inner {
            VerifyingInner::P256(key) => {
                let scheme = SignatureScheme::EcdsaP256Sha256;
                let signature = p256::ecdsa::Signature::from_der(signature)
                    .map_err(|_| SignatureError::Malformed(scheme))?;
                key.verify(message, &signature)
                    .map_err(|_| SignatureError::Mismatch(scheme))
            }
            VerifyingInner::Ed25519(key) => {
                let scheme = SignatureScheme::Ed25519;
                let signature = ed25519_dalek::Signature::from_slice(signature)
                    .map_err(|_| SignatureError::Malformed(scheme))?;
                key.verify_strict(message, &signature)
                    .map_err(|_| SignatureError::Mismatch(scheme))
            }
        }
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use base64::Engine as _;
        f.debug_struct("VerifyingKey")
            .field("scheme", &self.scheme())
            .field(
                "bytes",
                &base64::engine::general_purpose::STANDARD.encode(self.to_bytes()),
            )
            .finish()
    }
}

/// Verifies `signature` over `message` with a public key given as bytes, choosing the scheme
/// from the key length (see [`VerifyingKey::from_bytes`]).
pub fn verify(public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<(), SignatureError> {
    VerifyingKey::from_bytes(public_key)?.verify(message, signature)
}

#[cfg(test)]
mod tests;
