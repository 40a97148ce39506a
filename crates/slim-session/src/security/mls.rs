//! [`SlimMls`]: the session layer's [`MlsProvider`] backed by `slim-mls`, with members
//! identified by their `slim-auth` identity tokens.
//!
//! Our leaf's credential is our identity token and its signature key the provider's key (the
//! one the token's `pubkey` claim names), as upstream does. Tokens expire, so the MLS client
//! is rebuilt with a fresh token for every key package and every new group; groups already
//! made keep the credential they were made with. Key packages handed out wait (a bounded
//! number of them) for the welcome that consumes one.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::SystemTime;

use slim_auth::IdentityProvider;
use slim_mls::{DecryptError, MlsClient, MlsIdentity, PendingJoin, Suite};

use super::auth::TokenValidator;
use super::{Decrypted, MemberAdded, MlsGroup, MlsProvider, SecurityError};

/// Key packages kept waiting for their welcome (older ones are forgotten).
const MAX_PENDING_JOINS: usize = 16;

fn mls_error(error: impl std::fmt::Display) -> SecurityError {
    SecurityError::Mls(error.to_string())
}

/// The application's MLS client.
///
/// ```no_run
/// # fn build(provider: std::sync::Arc<dyn slim_auth::IdentityProvider>,
/// #          verifier: std::sync::Arc<dyn slim_auth::IdentityVerifier>) {
/// use slim_session::security::SlimMls;
/// // Suite 0x0002 (P-256): the provider's signing key must be ECDSA P-256.
/// let mls = SlimMls::new(provider, verifier, slim_mls::Suite::P256);
/// # let _ = mls; }
/// ```
pub struct SlimMls {
    provider: Arc<dyn IdentityProvider>,
    validator: Arc<TokenValidator>,
    suite: Suite,
    settings: slim_mls::MlsSettings,
    pending: VecDeque<PendingJoin>,
}

impl std::fmt::Debug for SlimMls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlimMls")
            .field("suite", &self.suite)
            .field("pending_joins", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl SlimMls {
    /// MLS in `suite` for the identity of `provider`, admitting members whose tokens
    /// `verifier` accepts. The provider's key must fit the suite (P-256 for
    /// [`Suite::P256`], Ed25519 for the others).
    pub fn new(
        provider: Arc<dyn IdentityProvider>,
        verifier: Arc<dyn slim_auth::IdentityVerifier>,
        suite: Suite,
    ) -> Self {
        Self::with_settings(provider, verifier, suite, slim_mls::MlsSettings::default())
    }

    /// As [`SlimMls::new`] with explicit `slim-mls` settings (epoch retention, clock skew).
    pub fn with_settings(
        provider: Arc<dyn IdentityProvider>,
        verifier: Arc<dyn slim_auth::IdentityVerifier>,
        suite: Suite,
        settings: slim_mls::MlsSettings,
    ) -> Self {
        SlimMls {
            provider,
            validator: Arc::new(TokenValidator::new(verifier)),
            suite,
            settings,
            pending: VecDeque::new(),
        }
    }

    /// The suite.
    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// A client whose credential is a token fresh at `now`.
    fn client(&self, now: SystemTime) -> Result<MlsClient, SecurityError> {
        let token = self
            .provider
            .token(now)
            .map_err(|e| SecurityError::Identity(e.to_string()))?;
        let key = self.provider.signing_key();
        self.validator
            .admit_own(token.as_bytes(), self.provider.token_id());
        let identity = MlsIdentity::new(
            token.as_bytes().to_vec(),
            key.private_bytes().to_vec(),
            key.public_key_bytes(),
        );
        MlsClient::with_settings(&identity, self.suite, self.validator.clone(), self.settings)
            .map_err(mls_error)
    }
}

impl MlsProvider for SlimMls {
    fn key_package(&mut self, now: SystemTime) -> Result<Vec<u8>, SecurityError> {
        let pending = self.client(now)?.key_package(now).map_err(mls_error)?;
        let bytes = pending.key_package().to_vec();
        if self.pending.len() >= MAX_PENDING_JOINS {
            self.pending.pop_front();
        }
        self.pending.push_back(pending);
        Ok(bytes)
    }

    fn create_group(
        &mut self,
        group_id: &[u8],
        now: SystemTime,
    ) -> Result<Box<dyn MlsGroup>, SecurityError> {
        let group = self
            .client(now)?
            .create_group(group_id, now)
            .map_err(mls_error)?;
        Ok(Box::new(Group(group)))
    }

    fn join_group(
        &mut self,
        welcome: &[u8],
        now: SystemTime,
    ) -> Result<Box<dyn MlsGroup>, SecurityError> {
        let mut last_error = None;
        // Newest first: the welcome answers the key package we sent last, usually.
        for index in (0..self.pending.len()).rev() {
            let Some(pending) = self.pending.get(index) else {
                continue;
            };
            match pending.join(welcome, now) {
                Ok(group) => {
                    self.pending.remove(index);
                    return Ok(Box::new(Group(group)));
                }
                Err(slim_mls::JoinError::NotForUs) => {}
                Err(error) => last_error = Some(mls_error(error)),
            }
        }
        Err(last_error.unwrap_or_else(|| {
            SecurityError::Mls("the welcome is not addressed to any of our key packages".into())
        }))
    }
}

/// One session's `slim-mls` group.
struct Group(slim_mls::MlsGroup);

impl MlsGroup for Group {
    fn epoch(&self) -> u64 {
        self.0.epoch()
    }

    fn add_member(
        &mut self,
        key_package: &[u8],
        now: SystemTime,
    ) -> Result<MemberAdded, SecurityError> {
        let output = self.0.add_member(key_package, now).map_err(mls_error)?;
        Ok(MemberAdded {
            commit: output.commit,
            welcome: output.welcome,
            member: output.member,
        })
    }

    fn remove_member(&mut self, member: &str, now: SystemTime) -> Result<Vec<u8>, SecurityError> {
        self.0.remove_member(member, now).map_err(mls_error)
    }

    fn rejoin_member(
        &mut self,
        member: &str,
        key_package: &[u8],
        now: SystemTime,
    ) -> Result<MemberAdded, SecurityError> {
        let output = self
            .0
            .rejoin_member(member, key_package, now)
            .map_err(mls_error)?;
        Ok(MemberAdded {
            commit: output.commit,
            welcome: output.welcome,
            member: output.member,
        })
    }

    fn process_commit(&mut self, commit: &[u8], now: SystemTime) -> Result<(), SecurityError> {
        self.0
            .process_commit(commit, now)
            .map(|_| ())
            .map_err(mls_error)
    }

    fn encrypt(&mut self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, SecurityError> {
        self.0.encrypt(plaintext, aad).map_err(mls_error)
    }

    fn decrypt(&mut self, ciphertext: &[u8]) -> Result<Decrypted, SecurityError> {
        match self.0.decrypt(ciphertext) {
            Ok(decrypted) => Ok(Decrypted {
                plaintext: decrypted.plaintext,
                aad: decrypted.aad,
            }),
            Err(DecryptError::FutureEpoch { .. }) => Err(SecurityError::FutureEpoch),
            Err(error) => Err(mls_error(error)),
        }
    }
}
