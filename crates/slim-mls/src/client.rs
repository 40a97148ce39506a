//! [`MlsClient`]: one application identity in one suite, the factory of groups and key packages.
//!
//! It also pins down the mls-rs configuration every group uses, because the wire depends on it:
//! default capabilities of the aws-lc provider (all its suites, post-quantum ones included),
//! `BasicCredential` only, no extensions, key packages valid for the library's default year,
//! commits as `PublicMessage` with the ratchet tree in a single welcome and no forced path,
//! application messages padded with the step function. These are the library defaults upstream
//! relies on; they are spelled out here so a library upgrade cannot change them silently.

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use mls_rs::{
    ExtensionList, MlsMessage,
    client_builder::{
        BaseConfig, PaddingMode, WithCryptoProvider, WithIdentityProvider, WithMlsRules,
    },
    mls_rules::{CommitOptions, DefaultMlsRules, EncryptionOptions},
    storage_provider::in_memory::InMemoryGroupStateStorage,
};
use mls_rs_crypto_awslc::AwsLcCryptoProvider;

use crate::{
    CreateError, IdentityError, JoinError, MemberId, MemberValidator, MlsGroup, MlsIdentity, Suite,
    error::kind_name,
    identity::PreparedIdentity,
    validator::{Clock, ValidatorAdapter, mls_time},
};

/// The mls-rs configuration of every SLIM group.
/// In-memory key package, PSK and group state stores (the library's base configuration), our
/// identity adapter, the aws-lc provider and upstream's rules.
pub(crate) type LibraryConfig = WithMlsRules<
    DefaultMlsRules,
    WithCryptoProvider<AwsLcCryptoProvider, WithIdentityProvider<ValidatorAdapter, BaseConfig>>,
>;

pub(crate) type LibraryClient = mls_rs::Client<LibraryConfig>;

/// Tunables of the groups a client makes. The defaults suit SLIM sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MlsSettings {
    /// How many past epochs keep their keys, so messages sent just before a commit still decrypt
    /// after it (at least 1). Default 8.
    pub epoch_retention: usize,
    /// Tolerated clock difference between members when checking key package lifetimes: our key
    /// packages are valid from `now - clock_skew`, and key packages we add are checked at
    /// `now + clock_skew`. Default 60 s.
    pub clock_skew: Duration,
}

impl Default for MlsSettings {
    fn default() -> Self {
        Self {
            epoch_retention: 8,
            clock_skew: Duration::from_secs(60),
        }
    }
}

/// An application's MLS identity bound to a suite and a member validator.
///
/// Cheap to clone; groups made from it are independent of each other.
#[derive(Clone)]
pub struct MlsClient {
    inner: Arc<ClientInner>,
}

pub(crate) struct ClientInner {
    pub(crate) suite: Suite,
    pub(crate) identity: PreparedIdentity,
    pub(crate) own_id: MemberId,
    pub(crate) validator: Arc<dyn MemberValidator>,
    pub(crate) settings: MlsSettings,
}

impl MlsClient {
    /// Binds `identity` to `suite`, checking that its key pair fits the suite and matches, and
    /// that `validator` can name it.
    pub fn new(
        identity: &MlsIdentity,
        suite: Suite,
        validator: Arc<dyn MemberValidator>,
    ) -> Result<Self, IdentityError> {
        Self::with_settings(identity, suite, validator, MlsSettings::default())
    }

    /// As [`MlsClient::new`], with explicit settings.
    pub fn with_settings(
        identity: &MlsIdentity,
        suite: Suite,
        validator: Arc<dyn MemberValidator>,
        settings: MlsSettings,
    ) -> Result<Self, IdentityError> {
        let prepared = identity.prepare(suite)?;
        let own_id = validator
            .member_id(&identity.credential)
            .map_err(IdentityError::Unidentifiable)?;
        let settings = MlsSettings {
            epoch_retention: settings.epoch_retention.max(1),
            ..settings
        };
        Ok(Self {
            inner: Arc::new(ClientInner {
                suite,
                identity: prepared,
                own_id,
                validator,
                settings,
            }),
        })
    }

    /// The suite of every group and key package this client makes.
    pub fn suite(&self) -> Suite {
        self.inner.suite
    }

    /// Our own member id, as the validator names our credential.
    pub fn member_id(&self) -> &MemberId {
        &self.inner.own_id
    }

    /// The settings groups are made with.
    pub fn settings(&self) -> MlsSettings {
        self.inner.settings
    }

    /// Makes a fresh key package (participant side) and keeps its secrets in the returned
    /// [`PendingJoin`] until the welcome arrives. Each key package is single use.
    pub fn key_package(&self, now: SystemTime) -> Result<PendingJoin, CreateError> {
        let parts = LibraryParts::new(&self.inner, now);
        let not_before = now
            .checked_sub(self.inner.settings.clock_skew)
            .unwrap_or(now);
        let message = parts.client.generate_key_package_message(
            ExtensionList::default(),
            ExtensionList::default(),
            Some(mls_time(not_before)),
        )?;
        Ok(PendingJoin {
            key_package: message.to_bytes()?,
            parts,
            inner: Arc::clone(&self.inner),
        })
    }

    /// Creates a group with this client as its only member (moderator side). `group_id` must be
    /// unique among the groups its members take part in.
    pub fn create_group(&self, group_id: &[u8], now: SystemTime) -> Result<MlsGroup, CreateError> {
        if group_id.is_empty() {
            return Err(CreateError::EmptyGroupId);
        }
        let parts = LibraryParts::new(&self.inner, now);
        let not_before = now
            .checked_sub(self.inner.settings.clock_skew)
            .unwrap_or(now);
        let group = parts.client.create_group_with_id(
            group_id.to_vec(),
            ExtensionList::default(),
            ExtensionList::default(),
            Some(mls_time(not_before)),
        )?;
        MlsGroup::new(group, parts, Arc::clone(&self.inner)).map_err(CreateError::Library)
    }

    pub(crate) fn inner(&self) -> &Arc<ClientInner> {
        &self.inner
    }
}

/// A key package that was sent out and waits for its welcome.
pub struct PendingJoin {
    key_package: Vec<u8>,
    parts: LibraryParts,
    inner: Arc<ClientInner>,
}

impl PendingJoin {
    /// The serialized `MLSMessage(KeyPackage)`, as carried in `JoinReplyPayload.key_package` and
    /// `RejoinRequestPayload.key_package`.
    pub fn key_package(&self) -> &[u8] {
        &self.key_package
    }

    /// Joins the group a welcome (serialized `MLSMessage(Welcome)` with the ratchet tree
    /// extension) admits us to. On success the key package's secrets are consumed; on failure
    /// they are kept, so a later, genuine welcome can still be joined.
    pub fn join(&self, welcome: &[u8], now: SystemTime) -> Result<MlsGroup, JoinError> {
        let message = MlsMessage::from_bytes(welcome).map_err(JoinError::Malformed)?;
        if message.wire_format() != mls_rs::WireFormat::Welcome {
            return Err(JoinError::NotAWelcome(kind_name(message.wire_format())));
        }
        let ours = self.inner.suite;
        match message.cipher_suite() {
            Some(suite) if suite == ours.cipher_suite() => {}
            other => {
                return Err(JoinError::WrongSuite {
                    ours,
                    got: other.map_or(0, u16::from),
                });
            }
        }
        self.parts.clock.set(now);
        // No time is given for the tree's lifetimes: like upstream, leaves are checked by the
        // validator only, so members with skewed clocks can still join.
        let (group, _info) =
            self.parts
                .client
                .join_group(None, &message, None)
                .map_err(|error| match error {
                    mls_rs::error::MlsError::WelcomeKeyPackageNotFound => JoinError::NotForUs,
                    mls_rs::error::MlsError::IdentityProviderError(e) => {
                        JoinError::MemberRejected(e.to_string())
                    }
                    other => JoinError::Library(other),
                })?;
        MlsGroup::new(group, self.parts.clone(), Arc::clone(&self.inner))
            .map_err(JoinError::Library)
    }
}

/// The library client of one group, with the storage and clock it shares with that group.
#[derive(Clone)]
pub(crate) struct LibraryParts {
    pub(crate) client: LibraryClient,
    pub(crate) storage: InMemoryGroupStateStorage,
    pub(crate) clock: Arc<Clock>,
}

impl LibraryParts {
    /// A library client of its own for each group: its clock and its epoch store are not shared.
    pub(crate) fn new(inner: &ClientInner, now: SystemTime) -> Self {
        let clock = Arc::new(Clock::default());
        clock.set(now);
        let storage = InMemoryGroupStateStorage::new()
            .with_max_epoch_retention(inner.settings.epoch_retention)
            .unwrap_or_default();
        let client = mls_rs::Client::builder()
            .group_state_storage(storage.clone())
            .identity_provider(ValidatorAdapter::new(
                Arc::clone(&inner.validator),
                Arc::clone(&clock),
            ))
            .crypto_provider(AwsLcCryptoProvider::new())
            .mls_rules(slim_rules())
            .signing_identity(
                inner.identity.signing_identity.clone(),
                inner.identity.signer.clone(),
                inner.suite.cipher_suite(),
            )
            .build();
        Self {
            client,
            storage,
            clock,
        }
    }
}

/// The commit and encryption options of upstream SLIM (the mls-rs defaults), made explicit.
fn slim_rules() -> DefaultMlsRules {
    DefaultMlsRules::new()
        .with_commit_options(
            CommitOptions::new()
                .with_path_required(false)
                .with_ratchet_tree_extension(true)
                .with_single_welcome_message(true)
                .with_allow_external_commit(false),
        )
        .with_encryption_options(EncryptionOptions::new(false, PaddingMode::StepFunction))
}
