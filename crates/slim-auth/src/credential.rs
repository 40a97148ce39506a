//! Binding an MLS member's credential to its identity token.
//!
//! An MLS `BasicCredential` carries the member's identity token as its identifier, and the
//! leaf carries the member's signature public key. A member is valid when the token verifies
//! and its `pubkey` claim is that same key; the member's identity is then the token's `sub`
//! (a successor leaf is valid when it has the same `sub`). This module is the check; the MLS
//! layer calls it from its identity-provider hook.

use std::time::SystemTime;

use crate::claims::{Claims, PubkeyError};
use crate::identity::{IdentityVerifier, VerifyError};
use crate::keys::{KeyError, VerifyingKey};

/// Why a credential does not identify its leaf.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// The credential identifier is not UTF-8 text, so it cannot be a token.
    #[error("credential identifier is not a UTF-8 token")]
    NotUtf8,
    /// The token was rejected.
    #[error("credential token rejected: {0}")]
    Token(#[from] VerifyError),
    /// The token's `pubkey` claim is missing or unusable.
    #[error(transparent)]
    Pubkey(#[from] PubkeyError),
    /// The leaf's signature key could not be decoded.
    #[error("leaf signature key: {0}")]
    LeafKey(KeyError),
    /// The token names a different key than the leaf uses.
    #[error("token pubkey differs from the leaf signature key")]
    KeyMismatch,
}

/// Verifies the token in `credential_identity` as of `now` and checks that its `pubkey` claim
/// is `leaf_signature_key` (compared as keys, so compressed and uncompressed P-256 encodings
/// of one point match). Returns the member's claims; its identity is `claims.sub`.
pub fn verify_member_credential(
    verifier: &dyn IdentityVerifier,
    credential_identity: &[u8],
    leaf_signature_key: &[u8],
    now: SystemTime,
) -> Result<Claims, CredentialError> {
    let token = std::str::from_utf8(credential_identity).map_err(|_| CredentialError::NotUtf8)?;
    let claims = verifier.verify(token, now)?;
    let claimed = claims.pubkey()?;
    let leaf = VerifyingKey::from_bytes(leaf_signature_key).map_err(CredentialError::LeafKey)?;
    if claimed != leaf {
        return Err(CredentialError::KeyMismatch);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use rand::SeedableRng as _;
    use rand::rngs::StdRng;

    use super::*;
    use crate::identity::IdentityProvider as _;
    use crate::keys::{SignatureScheme, SigningKey};
    use crate::shared_secret::{
        SharedSecretProvider, SharedSecretProviderConfig, SharedSecretVerifier,
        SharedSecretVerifierConfig,
    };

    const SECRET: &str = "credential-test-secret-0123456789abcdef";

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_795_000_000)
    }

    fn member(seed: u64) -> SharedSecretProvider {
        let key = SigningKey::generate(
            SignatureScheme::EcdsaP256Sha256,
            &mut StdRng::seed_from_u64(seed),
        );
        SharedSecretProvider::new(&SharedSecretProviderConfig::new("org/ns/m", SECRET), key)
            .unwrap()
    }

    fn verifier() -> SharedSecretVerifier {
        SharedSecretVerifier::new(&SharedSecretVerifierConfig::new(SECRET)).unwrap()
    }

    #[test]
    fn a_token_binds_its_own_key_only() {
        let alice = member(1);
        let token = alice.token(now()).unwrap();
        let key = alice.signing_key().public_key_bytes();
        let claims = verify_member_credential(&verifier(), token.as_bytes(), &key, now()).unwrap();
        assert_eq!(claims.sub, alice.token_id());

        let other_key = member(2).signing_key().public_key_bytes();
        assert_eq!(
            verify_member_credential(&verifier(), token.as_bytes(), &other_key, now()).unwrap_err(),
            CredentialError::KeyMismatch
        );
    }

    #[test]
    fn compressed_leaf_keys_match() {
        let alice = member(3);
        let token = alice.token(now()).unwrap();
        let full = alice.signing_key().public_key_bytes();
        let mut compressed = vec![2 + (full[64] & 1)];
        compressed.extend_from_slice(&full[1..33]);
        verify_member_credential(&verifier(), token.as_bytes(), &compressed, now()).unwrap();
    }

    #[test]
    fn bad_credentials_are_rejected() {
        let key = member(4).signing_key().public_key_bytes();
        assert_eq!(
            verify_member_credential(&verifier(), &[0xff, 0xfe], &key, now()).unwrap_err(),
            CredentialError::NotUtf8
        );
        assert!(matches!(
            verify_member_credential(&verifier(), b"not:a:token", &key, now()),
            Err(CredentialError::Token(_))
        ));
        let token = member(4).token(now()).unwrap();
        assert!(matches!(
            verify_member_credential(&verifier(), token.as_bytes(), &[1, 2, 3], now()),
            Err(CredentialError::LeafKey(_))
        ));
    }
}
