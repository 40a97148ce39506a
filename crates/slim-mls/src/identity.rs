//! An application's MLS identity: its credential (the identity token) and its signature key pair.
//!
//! The key pair belongs to the application (the token's `pubkey` claim names its public half),
//! so keys come in as raw bytes in the encodings the rest of SLIM uses and are normalised here
//! into what the crypto provider expects:
//!
//! * P-256: secret = big-endian scalar, which some generators return shorter than 32 bytes
//!   (leading zeros dropped), so it is left-padded; public = SEC1 point, kept as given because
//!   the leaf's key must equal the token's `pubkey` claim byte for byte.
//! * Ed25519: secret = 32-byte seed (a 64-byte seed‖public form is accepted too); the provider
//!   wants seed‖public.
//!
//! A key pair is checked by signing and verifying a probe, so a mismatch fails here with a clear
//! error instead of as a signature failure at a peer.

use std::fmt;

use mls_rs::{
    CipherSuiteProvider, CryptoProvider,
    crypto::{SignaturePublicKey, SignatureSecretKey},
    identity::{SigningIdentity, basic::BasicCredential},
};
use mls_rs_crypto_awslc::AwsLcCryptoProvider;

use crate::{IdentityError, Suite, suite::SignatureScheme};

const P256_SCALAR_LEN: usize = 32;
const P256_UNCOMPRESSED_LEN: usize = 65;
const P256_COMPRESSED_LEN: usize = 33;
const ED25519_LEN: usize = 32;
const KEY_CHECK_PROBE: &[u8] = b"slim-mls signature key pair check";

/// The MLS identity of an application.
#[derive(Clone, PartialEq, Eq)]
pub struct MlsIdentity {
    /// The identity token bytes; they become the `BasicCredential` identifier of our leaf.
    pub credential: Vec<u8>,
    /// The signature secret key (P-256 scalar or Ed25519 seed).
    pub signing_secret: Vec<u8>,
    /// The signature public key (P-256 SEC1 point or Ed25519 key), as in the token's claims.
    pub signing_public: Vec<u8>,
}

impl fmt::Debug for MlsIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MlsIdentity")
            .field("credential_len", &self.credential.len())
            .field("signing_secret", &"<redacted>")
            .field("signing_public_len", &self.signing_public.len())
            .finish()
    }
}

impl MlsIdentity {
    /// An identity from a credential and an existing key pair.
    pub fn new(credential: Vec<u8>, signing_secret: Vec<u8>, signing_public: Vec<u8>) -> Self {
        Self {
            credential,
            signing_secret,
            signing_public,
        }
    }

    /// Generates a fresh signature key pair for `suite` and returns it as
    /// `(secret, public)` in the encodings described in the module docs (P-256 secret padded to
    /// 32 bytes, public uncompressed; Ed25519 seed and public key).
    pub fn generate_signing_keys(suite: Suite) -> Result<(Vec<u8>, Vec<u8>), IdentityError> {
        let provider = suite_provider(suite)?;
        let (secret, public) = provider
            .signature_key_generate()
            .map_err(|e| IdentityError::Crypto(e.to_string()))?;
        let secret = match suite.signature_scheme() {
            SignatureScheme::EcdsaP256 => left_pad(secret.as_bytes(), P256_SCALAR_LEN)?,
            SignatureScheme::Ed25519 => secret
                .as_bytes()
                .get(..ED25519_LEN)
                .map(<[u8]>::to_vec)
                .ok_or(IdentityError::Crypto(
                    "short Ed25519 key from provider".into(),
                ))?,
        };
        Ok((secret, public.as_bytes().to_vec()))
    }

    /// Converts into the library's signing identity and signer, checking the key pair.
    pub(crate) fn prepare(&self, suite: Suite) -> Result<PreparedIdentity, IdentityError> {
        if self.credential.is_empty() {
            return Err(IdentityError::EmptyCredential);
        }
        let (secret, public) = match suite.signature_scheme() {
            SignatureScheme::EcdsaP256 => self.p256_keys(suite)?,
            SignatureScheme::Ed25519 => self.ed25519_keys(suite)?,
        };
        let provider = suite_provider(suite)?;
        let signature = provider
            .sign(&secret, KEY_CHECK_PROBE)
            .map_err(|_| IdentityError::KeyPairMismatch)?;
        provider
            .verify(&public, &signature, KEY_CHECK_PROBE)
            .map_err(|_| IdentityError::KeyPairMismatch)?;
        let credential = BasicCredential::new(self.credential.clone()).into_credential();
        Ok(PreparedIdentity {
            signing_identity: SigningIdentity::new(credential, public),
            signer: secret,
        })
    }

    fn p256_keys(
        &self,
        suite: Suite,
    ) -> Result<(SignatureSecretKey, SignaturePublicKey), IdentityError> {
        let secret_len = self.signing_secret.len();
        if secret_len == 0 || secret_len > P256_SCALAR_LEN {
            return Err(IdentityError::SecretKeyLength {
                suite,
                len: secret_len,
            });
        }
        let public_ok = match self.signing_public.len() {
            P256_UNCOMPRESSED_LEN => self.signing_public.first() == Some(&0x04),
            P256_COMPRESSED_LEN => matches!(self.signing_public.first(), Some(0x02 | 0x03)),
            _ => false,
        };
        if !public_ok {
            return Err(IdentityError::PublicKeyLength {
                suite,
                len: self.signing_public.len(),
            });
        }
        let secret = left_pad(&self.signing_secret, P256_SCALAR_LEN)?;
        Ok((secret.into(), self.signing_public.clone().into()))
    }

    fn ed25519_keys(
        &self,
        suite: Suite,
    ) -> Result<(SignatureSecretKey, SignaturePublicKey), IdentityError> {
        if self.signing_public.len() != ED25519_LEN {
            return Err(IdentityError::PublicKeyLength {
                suite,
                len: self.signing_public.len(),
            });
        }
        let seed = match self.signing_secret.len() {
            ED25519_LEN => &self.signing_secret[..],
            64 if self.signing_secret[ED25519_LEN..] == self.signing_public[..] => {
                &self.signing_secret[..ED25519_LEN]
            }
            64 => return Err(IdentityError::KeyPairMismatch),
            len => return Err(IdentityError::SecretKeyLength { suite, len }),
        };
        let mut expanded = Vec::with_capacity(2 * ED25519_LEN);
        expanded.extend_from_slice(seed);
        expanded.extend_from_slice(&self.signing_public);
        Ok((expanded.into(), self.signing_public.clone().into()))
    }
}

/// An identity in the library's types, ready to build clients with.
#[derive(Clone)]
pub(crate) struct PreparedIdentity {
    pub(crate) signing_identity: SigningIdentity,
    pub(crate) signer: SignatureSecretKey,
}

fn suite_provider(
    suite: Suite,
) -> Result<<AwsLcCryptoProvider as CryptoProvider>::CipherSuiteProvider, IdentityError> {
    AwsLcCryptoProvider::new()
        .cipher_suite_provider(suite.cipher_suite())
        .ok_or_else(|| IdentityError::Crypto(format!("{suite} is not available")))
}

fn left_pad(bytes: &[u8], len: usize) -> Result<Vec<u8>, IdentityError> {
    let padding = len.checked_sub(bytes.len()).ok_or(IdentityError::Crypto(
        "scalar longer than the curve order".into(),
    ))?;
    let mut padded = vec![0u8; padding];
    padded.extend_from_slice(bytes);
    Ok(padded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(suite: Suite) -> MlsIdentity {
        let (secret, public) = MlsIdentity::generate_signing_keys(suite).unwrap();
        MlsIdentity::new(b"token".to_vec(), secret, public)
    }

    #[test]
    fn generated_keys_have_the_documented_encodings() {
        let (secret, public) = MlsIdentity::generate_signing_keys(Suite::P256).unwrap();
        assert_eq!((secret.len(), public.len(), public[0]), (32, 65, 0x04));
        for suite in [Suite::Curve25519, Suite::PostQuantum] {
            let (secret, public) = MlsIdentity::generate_signing_keys(suite).unwrap();
            assert_eq!((secret.len(), public.len()), (32, 32));
        }
    }

    #[test]
    fn every_suite_accepts_its_own_generated_keys() {
        for suite in Suite::ALL {
            identity(suite).prepare(suite).unwrap();
        }
    }

    #[test]
    fn a_p256_scalar_with_dropped_leading_zeros_is_padded() {
        // Find a key whose scalar starts with a zero byte, as some generators return it short.
        let (secret, public) =
            std::iter::repeat_with(|| MlsIdentity::generate_signing_keys(Suite::P256).unwrap())
                .find(|(secret, _)| secret[0] == 0)
                .unwrap();
        let short = MlsIdentity::new(b"t".to_vec(), secret[1..].to_vec(), public);
        short.prepare(Suite::P256).unwrap();
    }

    #[test]
    fn a_compressed_p256_public_key_is_accepted() {
        let mut id = identity(Suite::P256);
        let parity = id.signing_public[64] & 1;
        let mut compressed = vec![0x02 | parity];
        compressed.extend_from_slice(&id.signing_public[1..33]);
        id.signing_public = compressed;
        id.prepare(Suite::P256).unwrap();
    }

    #[test]
    fn mismatched_pairs_are_refused() {
        for suite in Suite::ALL {
            let mut mixed = identity(suite);
            mixed.signing_public = identity(suite).signing_public;
            assert!(matches!(
                mixed.prepare(suite),
                Err(IdentityError::KeyPairMismatch)
            ));
        }
    }

    #[test]
    fn ed25519_accepts_the_expanded_secret_form_only_with_its_public_half() {
        let mut id = identity(Suite::Curve25519);
        let mut expanded = id.signing_secret.clone();
        expanded.extend_from_slice(&id.signing_public);
        id.signing_secret = expanded;
        id.prepare(Suite::Curve25519).unwrap();
        id.signing_secret[40] ^= 1;
        assert!(matches!(
            id.prepare(Suite::Curve25519),
            Err(IdentityError::KeyPairMismatch)
        ));
    }

    #[test]
    fn wrong_lengths_and_empty_credentials_are_refused() {
        let p256 = identity(Suite::P256);
        assert!(matches!(
            p256.prepare(Suite::Curve25519),
            Err(IdentityError::PublicKeyLength { len: 65, .. })
        ));
        let ed = identity(Suite::Curve25519);
        assert!(matches!(
            ed.prepare(Suite::P256),
            Err(IdentityError::PublicKeyLength { len: 32, .. })
        ));
        let mut long = identity(Suite::P256);
        long.signing_secret.push(0);
        assert!(matches!(
            long.prepare(Suite::P256),
            Err(IdentityError::SecretKeyLength { len: 33, .. })
        ));
        let mut anonymous = identity(Suite::P256);
        anonymous.credential.clear();
        assert!(matches!(
            anonymous.prepare(Suite::P256),
            Err(IdentityError::EmptyCredential)
        ));
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let id = identity(Suite::Curve25519);
        let text = format!("{id:?}");
        assert!(text.contains("redacted"));
        assert!(!text.contains(&format!("{:?}", id.signing_secret)));
    }
}
