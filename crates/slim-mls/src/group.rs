//! [`MlsGroup`]: one member's view of one MLS group, and every operation on it.
//!
//! Membership changes are made by the moderator (`add_member`, `remove_member`,
//! `rejoin_member`), which stages a commit and merges it at once, and are followed by everyone
//! else with `process_commit`, one epoch at a time. Application data goes through `encrypt` and
//! `decrypt`. Every operation takes the caller's `now`; nothing here reads a clock or does I/O.
//!
//! Commits (made and received) are in `group/commit.rs`; this file holds the state, the
//! accessors and the data path.
//!
//! After every epoch change the state is written to the group's in-memory store: that is what
//! moves the previous epoch into the bounded store of past epochs (otherwise mls-rs would keep
//! every past epoch in memory), and it makes `export_state` a copy.

mod commit;

use std::{collections::BTreeMap, sync::Arc};

use mls_rs::{
    GroupStateStorage, MlsMessage, MlsMessageDescription,
    error::MlsError,
    group::{ContentType, ReceivedMessage},
};

pub use commit::{CommitApplied, CommitOutput};

use crate::{
    DecryptError, EncryptError, MemberId, StateError, Suite,
    client::{ClientInner, LibraryConfig, LibraryParts},
    error::kind_name,
};

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
                    MlsError::CantProcessMessageFromSelf => DecryptError::OwnMessage,
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

fn content_name(content_type: ContentType) -> &'static str {
    match content_type {
        ContentType::Application => "application",
        ContentType::Proposal => "proposal",
        ContentType::Commit => "commit",
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
