//! [`MlsGroup`]: one member's view of one MLS group, and every operation on it.
//!
//! Membership changes are made by the moderator (`add_member`, `remove_member`,
//! `rejoin_member`), which stages a commit and merges it at once, and are followed by everyone
//! else with `process_commit`, one epoch at a time. Application data goes through `encrypt` and
//! `decrypt`. Every operation takes the caller's `now`; nothing here reads a clock or does I/O.
//!
//! After every epoch change the state is written to the group's in-memory store: that is what
//! moves the previous epoch into the bounded store of past epochs (otherwise mls-rs would keep
//! every past epoch in memory), and it makes `export_state` a copy.

use std::{collections::BTreeMap, sync::Arc, time::SystemTime};

use mls_rs::{
    GroupStateStorage, MlsMessage, MlsMessageDescription,
    error::MlsError,
    group::{CommitEffect, ContentType, ReceivedMessage, proposal::Proposal},
    mls_rules::ProposalInfo,
};

use crate::{
    CommitError, DecryptError, EncryptError, MemberId, ProcessCommitError, StateError, Suite,
    client::{ClientInner, LibraryConfig, LibraryParts},
    error::kind_name,
    validator::mls_time,
};

/// A commit made by this member, already merged into its own state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitOutput {
    /// Serialized `MLSMessage(PublicMessage(Commit))` for the existing members.
    pub commit: Vec<u8>,
    /// Serialized `MLSMessage(Welcome)` for the new member (carries the ratchet tree).
    pub welcome: Vec<u8>,
    /// The id of the member the welcome admits.
    pub member: MemberId,
}

/// What a received commit changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitApplied {
    /// The epoch the group is in now.
    pub epoch: u64,
    /// Who made the commit (SLIM: only the moderator may; the session layer checks).
    pub committer: MemberId,
    /// Members that joined with this commit.
    pub added: Vec<MemberId>,
    /// Members that left with this commit (a rejoined member appears in both lists).
    pub removed: Vec<MemberId>,
    /// This member was removed: the group is closed for it, every later operation fails.
    pub removed_self: bool,
}

/// A decrypted application message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decrypted {
    /// The application data.
    pub plaintext: Vec<u8>,
    /// The authenticated data the sender bound to it (SLIM: the `HeaderIntegrityAad` bytes).
    pub aad: Vec<u8>,
    /// Who sent it.
    pub sender: MemberId,
    /// The epoch it was sent in.
    pub epoch: u64,
}

/// One member's state of one MLS group.
pub struct MlsGroup {
    group: mls_rs::Group<LibraryConfig>,
    parts: LibraryParts,
    inner: Arc<ClientInner>,
    /// Leaf index → member id for the current epoch, so decryption names senders without
    /// asking the validator again.
    members: BTreeMap<u32, MemberId>,
    removed: bool,
}

impl MlsGroup {
    pub(crate) fn new(
        group: mls_rs::Group<LibraryConfig>,
        parts: LibraryParts,
        inner: Arc<ClientInner>,
    ) -> Result<Self, MlsError> {
        let mut this = Self {
            group,
            parts,
            inner,
            members: BTreeMap::new(),
            removed: false,
        };
        this.epoch_changed()?;
        Ok(this)
    }

    /// The current epoch (0 at creation, +1 per commit).
    pub fn epoch(&self) -> u64 {
        self.group.current_epoch()
    }

    /// The group id.
    pub fn group_id(&self) -> &[u8] {
        self.group.group_id()
    }

    /// The group's suite.
    pub fn suite(&self) -> Suite {
        self.inner.suite
    }

    /// Our own member id.
    pub fn own_id(&self) -> &MemberId {
        &self.inner.own_id
    }

    /// The ids of the current members, ourselves included, in leaf order.
    pub fn members(&self) -> Vec<MemberId> {
        self.members.values().cloned().collect()
    }

    /// Whether a member with this id is in the group.
    pub fn contains(&self, member: &str) -> bool {
        self.members.values().any(|id| id == member)
    }

    /// Whether a received commit removed us; the group is then closed.
    pub fn is_removed(&self) -> bool {
        self.removed
    }

    /// Adds the owner of `key_package` (serialized `MLSMessage(KeyPackage)`) with one commit,
    /// merged locally at once. The key package's lifetime is checked at `now` plus the tolerated
    /// clock skew, its credential by the validator.
    pub fn add_member(
        &mut self,
        key_package: &[u8],
        now: SystemTime,
    ) -> Result<CommitOutput, CommitError> {
        self.ensure_member()?;
        let (message, member) = self.read_key_package(key_package)?;
        if self.contains(&member) {
            return Err(CommitError::AlreadyMember(member));
        }
        let builder = self
            .commit_builder(now)
            .add_member(message)
            .map_err(commit_error)?;
        let output = builder.build().map_err(commit_error)?;
        self.merge_own_commit(output, member)
    }

    /// Removes a member with one commit, merged locally at once. Returns the serialized commit.
    pub fn remove_member(&mut self, member: &str, now: SystemTime) -> Result<Vec<u8>, CommitError> {
        self.ensure_member()?;
        let index = self.leaf_of(member)?;
        let output = self
            .commit_builder(now)
            .remove_member(index)
            .map_err(commit_error)?
            .build()
            .map_err(commit_error)?;
        let commit = output.commit_message.to_bytes().map_err(commit_error)?;
        self.group.apply_pending_commit().map_err(commit_error)?;
        self.epoch_changed().map_err(commit_error)?;
        Ok(commit)
    }

    /// Replaces a member's leaf by a fresh key package of the same member, in one commit that
    /// removes and adds (a member that lost its state rejoins this way). Merged locally at once.
    pub fn rejoin_member(
        &mut self,
        member: &str,
        key_package: &[u8],
        now: SystemTime,
    ) -> Result<CommitOutput, CommitError> {
        self.ensure_member()?;
        let index = self.leaf_of(member)?;
        let (message, owner) = self.read_key_package(key_package)?;
        if owner != member {
            return Err(CommitError::IdentityMismatch {
                expected: member.to_owned(),
                found: owner,
            });
        }
        let output = self
            .commit_builder(now)
            .remove_member(index)
            .and_then(|builder| builder.add_member(message))
            .map_err(commit_error)?
            .build()
            .map_err(commit_error)?;
        self.merge_own_commit(output, owner)
    }

    /// Applies a commit received from the moderator. Commits must come in epoch order: one made
    /// for an earlier epoch is refused as `StaleEpoch` (duplicate or replay), one for a later
    /// epoch as `FutureEpoch` (apply the missing ones first). On error the state is unchanged.
    pub fn process_commit(
        &mut self,
        commit: &[u8],
        now: SystemTime,
    ) -> Result<CommitApplied, ProcessCommitError> {
        if self.removed {
            return Err(ProcessCommitError::Removed);
        }
        let message = MlsMessage::from_bytes(commit).map_err(ProcessCommitError::Malformed)?;
        let (group_id, commit_epoch, content_type) = match message.description() {
            MlsMessageDescription::PublicProtocolMessage {
                group_id,
                epoch_id,
                content_type,
                ..
            }
            | MlsMessageDescription::PrivateProtocolMessage {
                group_id,
                epoch_id,
                content_type,
            } => (group_id, epoch_id, content_type),
            _ => {
                return Err(ProcessCommitError::NotACommit(kind_name(
                    message.wire_format(),
                )));
            }
        };
        if content_type != ContentType::Commit {
            return Err(ProcessCommitError::NotACommit(content_name(content_type)));
        }
        if group_id != self.group.group_id() {
            return Err(ProcessCommitError::WrongGroup);
        }
        let group_epoch = self.epoch();
        if commit_epoch < group_epoch {
            return Err(ProcessCommitError::StaleEpoch {
                commit_epoch,
                group_epoch,
            });
        }
        if commit_epoch > group_epoch {
            return Err(ProcessCommitError::FutureEpoch {
                commit_epoch,
                group_epoch,
            });
        }
        if let Some(kind) = message
            .proposals_by_value()
            .into_iter()
            .find_map(unsupported)
        {
            return Err(ProcessCommitError::Unsupported(kind));
        }
        self.parts.clock.set(now);
        // No time is passed: like upstream, receivers do not re-check key package lifetimes
        // (the moderator did), so a member with a skewed clock does not fall out of the group.
        let received =
            self.group
                .process_incoming_message(message)
                .map_err(|error| match error {
                    MlsError::IdentityProviderError(e) => {
                        ProcessCommitError::MemberRejected(e.to_string())
                    }
                    other => ProcessCommitError::Library(other),
                })?;
        let ReceivedMessage::Commit(description) = received else {
            // Unreachable by the checks above; refuse rather than guess.
            return Err(ProcessCommitError::NotACommit("non-commit"));
        };
        let (new_epoch, removed_self) = match &description.effect {
            CommitEffect::NewEpoch(new_epoch) => (new_epoch, false),
            CommitEffect::Removed { new_epoch, .. } => (new_epoch, true),
            // Refused before processing; kept total for the type's sake.
            CommitEffect::ReInit(_) => return Err(ProcessCommitError::Unsupported("ReInit")),
        };
        let (added, removed) = self.membership_changes(&new_epoch.applied_proposals);
        let committer = self
            .members
            .get(&description.committer)
            .cloned()
            .unwrap_or_default();
        if removed_self {
            self.removed = true;
        } else {
            self.epoch_changed().map_err(ProcessCommitError::Library)?;
        }
        Ok(CommitApplied {
            epoch: self.epoch(),
            committer,
            added,
            removed,
            removed_self,
        })
    }

    /// Encrypts application data as an MLS `PrivateMessage` whose authenticated data is `aad`
    /// (SLIM: the `HeaderIntegrityAad` bytes of the carrying message). Returns the serialized
    /// `MLSMessage`.
    pub fn encrypt(&mut self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, EncryptError> {
        if self.removed {
            return Err(EncryptError::Removed);
        }
        let message = self
            .group
            .encrypt_application_message(plaintext, aad.to_vec())?;
        Ok(message.to_bytes()?)
    }

    /// Decrypts an application message of this group, from the current epoch or a retained past
    /// one. The caller must compare [`Decrypted::aad`] with the AAD it rebuilds from the
    /// received headers. Commits and proposals are refused here: they change state and go
    /// through [`MlsGroup::process_commit`].
    ///
    /// Each message key works once: a second copy of a message fails with `KeyAlreadyUsed`, and
    /// so does the genuine copy if a damaged one (that passed the sender-data check) came first,
    /// which is no worse than a drop. Retransmissions must therefore be encrypted afresh, not
    /// resent as the same ciphertext. A sender may run at most 1024 messages ahead of the last
    /// one received from it in an epoch (the library's ratchet bound).
    pub fn decrypt(&mut self, message: &[u8]) -> Result<Decrypted, DecryptError> {
        if self.removed {
            return Err(DecryptError::Removed);
        }
        let message = MlsMessage::from_bytes(message).map_err(DecryptError::Malformed)?;
        let MlsMessageDescription::PrivateProtocolMessage {
            group_id,
            epoch_id: message_epoch,
            content_type: ContentType::Application,
        } = message.description()
        else {
            let kind = match message.description() {
                MlsMessageDescription::PrivateProtocolMessage { content_type, .. }
                | MlsMessageDescription::PublicProtocolMessage { content_type, .. } => {
                    content_name(content_type)
                }
                _ => kind_name(message.wire_format()),
            };
            return Err(DecryptError::NotApplication(kind));
        };
        if group_id != self.group.group_id() {
            return Err(DecryptError::WrongGroup);
        }
        let group_epoch = self.epoch();
        if message_epoch > group_epoch {
            return Err(DecryptError::FutureEpoch {
                message_epoch,
                group_epoch,
            });
        }
        let received =
            self.group
                .process_incoming_message(message)
                .map_err(|error| match error {
                    MlsError::EpochNotFound => DecryptError::EpochUnavailable {
                        message_epoch,
                        group_epoch,
                    },
                    MlsError::KeyMissing(generation) => DecryptError::KeyAlreadyUsed { generation },
                    other => DecryptError::Library(other),
                })?;
        let ReceivedMessage::ApplicationMessage(description) = received else {
            return Err(DecryptError::NotApplication("non-application"));
        };
        // mls-rs refuses past-epoch messages whose sender's leaf changed since, so the current
        // holder of the sender's leaf is the sender.
        let sender = self
            .members
            .get(&description.sender_index)
            .cloned()
            .ok_or(DecryptError::Library(MlsError::MemberNotFound))?;
        Ok(Decrypted {
            plaintext: description.data().to_vec(),
            aad: description.authenticated_data,
            sender,
            epoch: message_epoch,
        })
    }

    /// The current state (secrets included: encrypt it at rest) for
    /// [`MlsClient::import_group`](crate::MlsClient::import_group). Past epochs are not
    /// included.
    pub fn export_state(&mut self) -> Result<Vec<u8>, StateError> {
        if self.removed {
            return Err(StateError::Removed);
        }
        self.group.write_to_storage()?;
        let snapshot = self
            .parts
            .storage
            .state(self.group.group_id())
            .map_err(|_| StateError::Malformed)?
            .ok_or(StateError::Malformed)?;
        Ok(crate::state::encode(self.group.group_id(), &snapshot))
    }

    fn ensure_member(&self) -> Result<(), CommitError> {
        if self.removed {
            return Err(CommitError::Removed);
        }
        Ok(())
    }

    fn commit_builder(
        &mut self,
        now: SystemTime,
    ) -> mls_rs::group::CommitBuilder<'_, LibraryConfig> {
        self.parts.clock.set(now);
        let check_time = now
            .checked_add(self.inner.settings.clock_skew)
            .unwrap_or(now);
        self.group
            .commit_builder()
            .commit_time(mls_time(check_time))
    }

    /// Parses a key package and names its owner.
    fn read_key_package(&self, bytes: &[u8]) -> Result<(MlsMessage, MemberId), CommitError> {
        let message = MlsMessage::from_bytes(bytes).map_err(CommitError::Malformed)?;
        let Some(key_package) = message.as_key_package() else {
            return Err(CommitError::NotAKeyPackage(kind_name(
                message.wire_format(),
            )));
        };
        if key_package.cipher_suite() != self.inner.suite.cipher_suite() {
            return Err(CommitError::WrongSuite {
                group: self.inner.suite,
                got: u16::from(key_package.cipher_suite()),
            });
        }
        let credential = key_package
            .signing_identity()
            .credential
            .as_basic()
            .ok_or_else(|| CommitError::MemberRejected("not a basic credential".into()))?;
        let member = self
            .inner
            .validator
            .member_id(&credential.identifier)
            .map_err(CommitError::MemberRejected)?;
        Ok((message, member))
    }

    fn leaf_of(&self, member: &str) -> Result<u32, CommitError> {
        if member == self.inner.own_id {
            return Err(CommitError::CannotRemoveSelf);
        }
        self.members
            .iter()
            .find(|(_, id)| *id == member)
            .map(|(index, _)| *index)
            .ok_or_else(|| CommitError::UnknownMember(member.to_owned()))
    }

    fn merge_own_commit(
        &mut self,
        output: mls_rs::group::CommitOutput,
        member: MemberId,
    ) -> Result<CommitOutput, CommitError> {
        let commit = output.commit_message.to_bytes().map_err(commit_error)?;
        let welcome = match output.welcome_messages.as_slice() {
            [welcome] => welcome.to_bytes().map_err(commit_error)?,
            _ => return Err(CommitError::Library(MlsError::UnexpectedMessageType)),
        };
        self.group.apply_pending_commit().map_err(commit_error)?;
        self.epoch_changed().map_err(commit_error)?;
        Ok(CommitOutput {
            commit,
            welcome,
            member,
        })
    }

    /// Who joined and who left with a commit, from the proposals it applied (read before the
    /// member cache moves to the new epoch).
    fn membership_changes(
        &self,
        applied: &[ProposalInfo<Proposal>],
    ) -> (Vec<MemberId>, Vec<MemberId>) {
        let mut added = Vec::new();
        let mut removed = Vec::new();
        for info in applied {
            match &info.proposal {
                Proposal::Add(add) => added.extend(
                    add.signing_identity()
                        .credential
                        .as_basic()
                        .and_then(|basic| self.inner.validator.member_id(&basic.identifier).ok()),
                ),
                Proposal::Remove(remove) => {
                    removed.extend(self.members.get(&remove.to_remove()).cloned())
                }
                _ => {}
            }
        }
        (added, removed)
    }

    /// Refreshes the member cache and flushes the finished epoch into the bounded store.
    fn epoch_changed(&mut self) -> Result<(), MlsError> {
        self.group.write_to_storage()?;
        self.members = self
            .group
            .roster()
            .members_iter()
            .map(|member| {
                let id = member
                    .signing_identity
                    .credential
                    .as_basic()
                    .and_then(|basic| self.inner.validator.member_id(&basic.identifier).ok())
                    // Every leaf was named by the validator when the library indexed the tree,
                    // so this cannot happen with a deterministic validator.
                    .unwrap_or_else(|| format!("<unidentified leaf {}>", member.index));
                (member.index, id)
            })
            .collect();
        Ok(())
    }
}

/// Maps a library failure during a commit made by us.
fn commit_error(error: MlsError) -> CommitError {
    match error {
        MlsError::IdentityProviderError(e) => CommitError::MemberRejected(e.to_string()),
        other => CommitError::Library(other),
    }
}

fn content_name(content_type: ContentType) -> &'static str {
    match content_type {
        ContentType::Application => "application",
        ContentType::Proposal => "proposal",
        ContentType::Commit => "commit",
    }
}

/// Proposals a SLIM member cannot follow: the group would have to be rebuilt or be joined
/// from outside, which SLIM never does.
fn unsupported(proposal: &Proposal) -> Option<&'static str> {
    match proposal {
        Proposal::ReInit(_) => Some("ReInit"),
        Proposal::ExternalInit(_) => Some("ExternalInit"),
        _ => None,
    }
}

impl std::fmt::Debug for MlsGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MlsGroup")
            .field("suite", &self.inner.suite)
            .field("epoch", &self.epoch())
            .field("members", &self.members)
            .field("removed", &self.removed)
            .finish_non_exhaustive()
    }
}
