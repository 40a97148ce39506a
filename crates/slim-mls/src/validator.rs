//! Who may be in a group: the application's [`MemberValidator`], plugged into mls-rs as its
//! `IdentityProvider`.
//!
//! SLIM credentials are `BasicCredential`s whose identifier is the member's identity token. This
//! crate does not know token formats (that is `slim-auth`); the session layer implements
//! [`MemberValidator`] by verifying the token and checking that its `pubkey` claim equals the
//! leaf's signature key, and names the member by the token's subject.
//!
//! mls-rs is synchronous here but has no notion of "now" for identity checks, so every group
//! owns a [`Clock`] that each operation sets to the caller's `now` before calling into the
//! library; the adapter reads it when the library asks for a validation.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use mls_rs::{
    ExtensionList, IdentityProvider,
    error::IntoAnyError,
    identity::{CredentialType, SigningIdentity},
    time::MlsTime,
};
use mls_rs_core::identity::MemberValidationContext;

/// The application-level name of a group member (for example the `sub` claim of its token).
pub type MemberId = String;

/// Decides which credentials may be group members, and names them.
///
/// Called by the library whenever a leaf enters our view of the tree: a key package being added,
/// a commit adding or updating members, every leaf of the tree carried by a welcome we join.
/// Implementations must be deterministic for a given credential: every member of a group must
/// reach the same verdict and the same [`MemberId`].
pub trait MemberValidator: Send + Sync {
    /// Admits a member: `credential` is the identity token carried in its leaf,
    /// `signature_public_key` the leaf's signature key. Returns the member's id, or why it is
    /// refused.
    ///
    /// Note that joining validates every leaf of the group's tree, including members admitted
    /// long ago whose tokens were issued then; a validator that enforces token expiry strictly
    /// will refuse joins to groups older than the token lifetime.
    fn validate(
        &self,
        credential: &[u8],
        signature_public_key: &[u8],
        now: SystemTime,
    ) -> Result<MemberId, String>;

    /// Names a credential that was already admitted (roster look-ups, state import, removal by
    /// id). Must not depend on time: a member keeps its id for the life of the group even after
    /// its token expired.
    fn member_id(&self, credential: &[u8]) -> Result<MemberId, String>;
}

/// The "now" of the operation in progress, shared between a group and its identity adapter.
#[derive(Debug, Default)]
pub(crate) struct Clock(AtomicU64);

impl Clock {
    pub(crate) fn set(&self, now: SystemTime) {
        let nanos = now
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        self.0.store(nanos, Ordering::Relaxed);
    }

    pub(crate) fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.0.load(Ordering::Relaxed))
    }
}

/// Converts a wall-clock time into the library's timestamp (whole seconds).
pub(crate) fn mls_time(time: SystemTime) -> MlsTime {
    MlsTime::from_duration_since_epoch(time.duration_since(UNIX_EPOCH).unwrap_or_default())
}

/// Why the adapter refused an identity; the library wraps it into its own error.
#[derive(Debug, thiserror::Error)]
pub(crate) enum IdentityRefusal {
    #[error("credential is not a basic credential")]
    NotBasicCredential,
    #[error("{0}")]
    Refused(String),
    #[error("external senders are not accepted")]
    ExternalSender,
}

impl IntoAnyError for IdentityRefusal {
    fn into_dyn_error(self) -> Result<Box<dyn std::error::Error + Send + Sync>, Self> {
        Ok(Box::new(self))
    }
}

/// The [`MemberValidator`] as mls-rs sees it.
#[derive(Clone)]
pub(crate) struct ValidatorAdapter {
    validator: Arc<dyn MemberValidator>,
    clock: Arc<Clock>,
}

impl ValidatorAdapter {
    pub(crate) fn new(validator: Arc<dyn MemberValidator>, clock: Arc<Clock>) -> Self {
        Self { validator, clock }
    }

    fn credential(identity: &SigningIdentity) -> Result<&[u8], IdentityRefusal> {
        identity
            .credential
            .as_basic()
            .map(|basic| basic.identifier.as_slice())
            .ok_or(IdentityRefusal::NotBasicCredential)
    }

    fn member_id(&self, identity: &SigningIdentity) -> Result<MemberId, IdentityRefusal> {
        self.validator
            .member_id(Self::credential(identity)?)
            .map_err(IdentityRefusal::Refused)
    }
}

impl IdentityProvider for ValidatorAdapter {
    type Error = IdentityRefusal;

    fn validate_member(
        &self,
        signing_identity: &SigningIdentity,
        _timestamp: Option<MlsTime>,
        _context: MemberValidationContext<'_>,
    ) -> Result<(), Self::Error> {
        // The library's timestamp is absent on most paths; the caller's clock is the truth.
        self.validator
            .validate(
                Self::credential(signing_identity)?,
                signing_identity.signature_key.as_bytes(),
                self.clock.now(),
            )
            .map(drop)
            .map_err(IdentityRefusal::Refused)
    }

    fn validate_external_sender(
        &self,
        _signing_identity: &SigningIdentity,
        _timestamp: Option<MlsTime>,
        _extensions: Option<&ExtensionList>,
    ) -> Result<(), Self::Error> {
        Err(IdentityRefusal::ExternalSender)
    }

    fn identity(
        &self,
        signing_identity: &SigningIdentity,
        _extensions: &ExtensionList,
    ) -> Result<Vec<u8>, Self::Error> {
        self.member_id(signing_identity).map(String::into_bytes)
    }

    fn valid_successor(
        &self,
        predecessor: &SigningIdentity,
        successor: &SigningIdentity,
        _extensions: &ExtensionList,
    ) -> Result<bool, Self::Error> {
        Ok(self.member_id(predecessor)? == self.member_id(successor)?)
    }

    fn supported_types(&self) -> Vec<CredentialType> {
        vec![CredentialType::BASIC]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_keeps_sub_second_precision() {
        let clock = Clock::default();
        let now = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        clock.set(now);
        assert_eq!(clock.now(), now);
        clock.set(UNIX_EPOCH - Duration::from_secs(1));
        assert_eq!(clock.now(), UNIX_EPOCH);
    }

    #[test]
    fn mls_time_is_whole_seconds_since_the_epoch() {
        let t = UNIX_EPOCH + Duration::new(42, 999_999_999);
        assert_eq!(mls_time(t).seconds_since_epoch(), 42);
    }
}
