//! Membership changes: the moderator's commits (add, remove, rejoin), staged and merged at once,
//! and every other member's processing of them, strictly one epoch after the other.

use std::time::SystemTime;

use mls_rs::{
    MlsMessage, MlsMessageDescription,
    error::MlsError,
    group::{CommitEffect, ContentType, ReceivedMessage, proposal::Proposal},
    mls_rules::ProposalInfo,
};

use super::{MlsGroup, content_name};
use crate::{
    CommitError, MemberId, ProcessCommitError, client::LibraryConfig, error::kind_name,
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

impl MlsGroup {
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

    /// Names the owner of a key package without adding it, as the validator names its
    /// credential (no time check): lets the moderator choose between `add_member` and
    /// `rejoin_member` when a key package arrives.
    pub fn key_package_owner(&self, key_package: &[u8]) -> Result<MemberId, CommitError> {
        self.read_key_package(key_package).map(|(_, owner)| owner)
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
}

/// Maps a library failure during a commit made by us.
fn commit_error(error: MlsError) -> CommitError {
    match error {
        MlsError::IdentityProviderError(e) => CommitError::MemberRejected(e.to_string()),
        other => CommitError::Library(other),
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
