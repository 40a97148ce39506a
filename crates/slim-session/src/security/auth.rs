//! [`AuthIdentity`]: the session layer's [`Identity`] backed by `slim-auth`.
//!
//! Tokens come from the application's [`IdentityProvider`] (cached there), command headers are
//! signed with its signing key, and a peer's token is checked with the [`IdentityVerifier`]
//! before its `pubkey` claim verifies the header signature — upstream's §4.9 receive check.
//!
//! [`TokenValidator`] is the matching MLS member check for `slim-mls`: a leaf's credential is
//! an identity token that must verify and name the leaf's signature key.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use slim_auth::credential::{CredentialError, verify_member_credential};
use slim_auth::{IdentityProvider, IdentityVerifier, VerifyError};

use super::{Identity, SecurityError};

/// An application identity from `slim-auth`.
///
/// ```no_run
/// # fn build(provider: std::sync::Arc<dyn slim_auth::IdentityProvider>,
/// #          verifier: std::sync::Arc<dyn slim_auth::IdentityVerifier>) {
/// use slim_session::security::AuthIdentity;
/// let identity = AuthIdentity::new(provider, verifier);
/// # let _ = identity; }
/// ```
#[derive(Clone)]
pub struct AuthIdentity {
    provider: Arc<dyn IdentityProvider>,
    verifier: Arc<dyn IdentityVerifier>,
}

impl std::fmt::Debug for AuthIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthIdentity")
            .field("token_id", &self.provider.token_id())
            .finish_non_exhaustive()
    }
}

impl AuthIdentity {
    /// Stamps with `provider`, checks peers with `verifier`.
    pub fn new(provider: Arc<dyn IdentityProvider>, verifier: Arc<dyn IdentityVerifier>) -> Self {
        AuthIdentity { provider, verifier }
    }

    /// The provider (for the MLS adapter, which needs the same key and tokens).
    pub fn provider(&self) -> &Arc<dyn IdentityProvider> {
        &self.provider
    }

    /// The verifier.
    pub fn verifier(&self) -> &Arc<dyn IdentityVerifier> {
        &self.verifier
    }
}

impl Identity for AuthIdentity {
    fn token(&mut self, now: SystemTime) -> Result<Arc<str>, SecurityError> {
        self.provider
            .token(now)
            .map_err(|e| SecurityError::Identity(e.to_string()))
    }

    fn sign(&mut self, data: &[u8]) -> Result<Vec<u8>, SecurityError> {
        Ok(slim_auth::header::sign_header(
            self.provider.signing_key(),
            data,
        ))
    }

    fn verify(
        &mut self,
        token: &str,
        data: &[u8],
        signature: &[u8],
        now: SystemTime,
    ) -> Result<String, SecurityError> {
        if signature.is_empty() {
            return Err(SecurityError::Signature(
                "missing end-to-end signature".into(),
            ));
        }
        let claims = self
            .verifier
            .verify(token, now)
            .map_err(|e| SecurityError::Identity(e.to_string()))?;
        let key = claims
            .pubkey_bytes()
            .map_err(|e| SecurityError::Identity(e.to_string()))?;
        slim_auth::header::verify_header(&key, data, signature)
            .map_err(|e| SecurityError::Signature(e.to_string()))?;
        Ok(claims.sub)
    }
}

/// Credentials whose member id is remembered (the ids of current group members).
const NAME_CACHE: usize = 8192;

/// The MLS member check: the credential is an identity token that verifies and whose
/// `pubkey` claim is the leaf's signature key; the member id is the token's subject.
///
/// A token that verifies except for having expired is accepted as proof of the binding
/// between its subject and the key: members admitted long ago keep their original tokens in
/// the tree, and a newcomer must still be able to join. Freshness of new members comes from
/// key package lifetimes, which MLS checks itself.
pub struct TokenValidator {
    verifier: Arc<dyn IdentityVerifier>,
    names: Mutex<Names>,
}

/// Member ids of credentials seen, bounded (insertion order for eviction).
#[derive(Default)]
struct Names {
    by_credential: HashMap<Vec<u8>, String>,
    order: VecDeque<Vec<u8>>,
}

impl std::fmt::Debug for TokenValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenValidator").finish_non_exhaustive()
    }
}

impl TokenValidator {
    /// A validator using `verifier`.
    pub fn new(verifier: Arc<dyn IdentityVerifier>) -> Self {
        TokenValidator {
            verifier,
            names: Mutex::new(Names::default()),
        }
    }

    /// Names one of our own credentials (each refreshed token is one) as `id`.
    pub fn admit_own(&self, token: &[u8], id: &str) {
        self.remember(token, id);
    }

    /// The subject of an authentic token, whatever its age, without a clock: the token is
    /// verified at a time inside its own validity window, found from the verifier's answers
    /// (`NotYetValid` names its start, `Expired` its end). The MAC or signature is always
    /// checked; only the time window is set aside, since a member keeps its name for the life
    /// of the group.
    fn authentic_subject(&self, credential: &[u8]) -> Result<String, String> {
        let token = std::str::from_utf8(credential).map_err(|_| "credential is not a token")?;
        let mut at = UNIX_EPOCH;
        for _ in 0..3 {
            match self.verifier.verify(token, at) {
                Ok(claims) => return Ok(claims.sub),
                Err(VerifyError::NotYetValid { valid_from, .. }) => {
                    at = UNIX_EPOCH + Duration::from_secs(valid_from);
                }
                Err(VerifyError::Expired { expired_at, .. }) => {
                    at = UNIX_EPOCH + Duration::from_secs(expired_at.saturating_sub(1));
                }
                Err(other) => return Err(other.to_string()),
            }
        }
        Err("token has no usable validity window".to_owned())
    }

    fn remember(&self, credential: &[u8], id: &str) {
        let mut names = self.names.lock().unwrap_or_else(PoisonError::into_inner);
        if names
            .by_credential
            .insert(credential.to_vec(), id.to_owned())
            .is_none()
        {
            names.order.push_back(credential.to_vec());
            if names.order.len() > NAME_CACHE
                && let Some(old) = names.order.pop_front()
            {
                names.by_credential.remove(&old);
            }
        }
    }
}

impl slim_mls::MemberValidator for TokenValidator {
    fn validate(
        &self,
        credential: &[u8],
        signature_public_key: &[u8],
        now: SystemTime,
    ) -> Result<slim_mls::MemberId, String> {
        let verified = match verify_member_credential(
            self.verifier.as_ref(),
            credential,
            signature_public_key,
            now,
        ) {
            Err(CredentialError::Token(VerifyError::Expired { expired_at, .. })) => {
                // Authentic but old: check it as of just before it expired.
                let then = UNIX_EPOCH + Duration::from_secs(expired_at.saturating_sub(1));
                verify_member_credential(
                    self.verifier.as_ref(),
                    credential,
                    signature_public_key,
                    then,
                )
            }
            other => other,
        };
        let claims = verified.map_err(|e| e.to_string())?;
        self.remember(credential, &claims.sub);
        Ok(claims.sub)
    }

    fn member_id(&self, credential: &[u8]) -> Result<slim_mls::MemberId, String> {
        let known = {
            let names = self.names.lock().unwrap_or_else(PoisonError::into_inner);
            names.by_credential.get(credential).cloned()
        };
        if let Some(id) = known {
            return Ok(id);
        }
        let id = self.authentic_subject(credential)?;
        self.remember(credential, &id);
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use slim_auth::config::{IdentityProviderConfig, IdentityVerifierConfig};
    use slim_auth::shared_secret::{SharedSecretProviderConfig, SharedSecretVerifierConfig};
    use slim_auth::{SignatureScheme, SigningKey};
    use slim_mls::MemberValidator as _;

    use super::*;

    const SECRET: &str = "validator-test-secret-0123456789abcdef";

    fn identity(seed: u64, secret: &str) -> (AuthIdentity, SigningKey) {
        let key = SigningKey::generate(
            SignatureScheme::EcdsaP256Sha256,
            &mut StdRng::seed_from_u64(seed),
        );
        let provider = IdentityProviderConfig::SharedSecret(SharedSecretProviderConfig::new(
            "org/ns/app",
            secret,
        ))
        .build(key.clone())
        .unwrap();
        let verifier =
            IdentityVerifierConfig::SharedSecret(SharedSecretVerifierConfig::new(secret))
                .build(None)
                .unwrap();
        (AuthIdentity::new(provider, verifier), key)
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn header_signatures_round_trip_and_tampering_is_caught() {
        let (mut alice, _) = identity(1, SECRET);
        let (mut bob, _) = identity(2, SECRET);
        let now = at(1_800_000_000);
        let token = alice.token(now).unwrap();
        let signature = alice.sign(b"header aad").unwrap();
        let subject = bob.verify(&token, b"header aad", &signature, now).unwrap();
        assert_eq!(subject, alice.provider().token_id());
        assert!(bob.verify(&token, b"other aad", &signature, now).is_err());
        assert!(bob.verify(&token, b"header aad", &[], now).is_err());
        let (mut eve, _) = identity(3, "a-different-secret-0123456789abcdef");
        assert!(eve.verify(&token, b"header aad", &signature, now).is_err());
    }

    #[test]
    fn credentials_bind_tokens_to_leaf_keys_and_keep_their_names() {
        let (alice, key) = identity(1, SECRET);
        let (_, other_key) = identity(2, SECRET);
        let validator = TokenValidator::new(Arc::clone(alice.verifier()));
        let issued = at(1_800_000_000);
        let token = alice.provider().token(issued).unwrap();
        let name = validator
            .validate(token.as_bytes(), &key.public_key_bytes(), issued)
            .unwrap();
        assert_eq!(name, alice.provider().token_id());
        // Another key than the token names is refused.
        assert!(
            validator
                .validate(token.as_bytes(), &other_key.public_key_bytes(), issued)
                .is_err()
        );
        // Long after expiry the binding still holds (an old member in a group's tree).
        let later = issued + Duration::from_secs(30 * 24 * 3600);
        assert_eq!(
            validator
                .validate(token.as_bytes(), &key.public_key_bytes(), later)
                .unwrap(),
            name
        );
        // Names need no clock and no earlier validation.
        let fresh = TokenValidator::new(Arc::clone(alice.verifier()));
        assert_eq!(fresh.member_id(token.as_bytes()).unwrap(), name);
        assert!(fresh.member_id(b"not a token").is_err());
    }
}
