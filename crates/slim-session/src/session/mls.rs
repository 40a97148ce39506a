//! Per-session MLS state: the group, commit numbering, and messages waiting for a commit.
//!
//! The moderator numbers its commits 1, 2, … (`commit_id`); participants apply them strictly
//! in that order, buffering ones that arrive early and ignoring ones at or below the commit
//! their welcome was built on. Application messages encrypted in an epoch this member has not
//! reached yet (the moderator applies its own commit before the others receive it) are held,
//! boundedly, and retried after each commit.

use std::collections::{BTreeMap, VecDeque};

use rand::Rng;
use rand::rngs::StdRng;
use slim_wire::proto;

use crate::config::MlsSettings;
use crate::security::MlsGroup;
use crate::wire::{Inbound, NO_MLS_EPOCH};

/// Most commits kept waiting for an earlier one.
const MAX_PENDING_COMMITS: usize = 64;

/// MLS state of one session.
pub(crate) struct MlsState {
    pub settings: MlsSettings,
    pub group: Option<Box<dyn MlsGroup>>,
    /// Moderator: last commit id assigned. Participant: last commit id applied.
    pub commit_id: u32,
    /// Participant: group updates whose commit arrived ahead of order, by commit id.
    pending: BTreeMap<u32, proto::GroupUpdatePayload>,
    /// Application messages that could not be decrypted yet.
    held: VecDeque<Box<Inbound>>,
    held_cap: usize,
}

impl std::fmt::Debug for MlsState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MlsState")
            .field("epoch", &self.epoch())
            .field("commit_id", &self.commit_id)
            .field("pending", &self.pending.len())
            .field("held", &self.held.len())
            .finish()
    }
}

impl MlsState {
    /// State without a group yet.
    pub fn new(settings: MlsSettings, held_cap: usize) -> Self {
        MlsState {
            settings,
            group: None,
            commit_id: 0,
            pending: BTreeMap::new(),
            held: VecDeque::new(),
            held_cap: held_cap.max(1),
        }
    }

    /// The group's epoch (0 before joining).
    pub fn epoch(&self) -> u64 {
        self.group.as_ref().map_or(0, |g| g.epoch())
    }

    /// The group, when joined.
    pub fn group_mut(&mut self) -> Option<&mut (dyn MlsGroup + 'static)> {
        self.group.as_deref_mut()
    }

    /// Whether this decrypted message's AAD should be checked (sampled at the configured
    /// percentage).
    pub fn sample_aad_check(&self, rng: &mut StdRng) -> bool {
        match self.settings.header_integrity_validation_percent {
            0 => false,
            p if p >= 100 => true,
            p => rng.gen_range(0..100) < p,
        }
    }

    /// Keeps a message for a later decryption attempt (replacing an older copy).
    pub fn hold(&mut self, message: Box<Inbound>) {
        self.held.retain(|m| {
            !(m.source == message.source
                && m.message_id == message.message_id
                && m.kind == message.kind)
        });
        if self.held.len() >= self.held_cap {
            self.held.pop_front();
        }
        self.held.push_back(message);
    }

    /// Takes every held message (to retry after a commit).
    pub fn take_held(&mut self) -> VecDeque<Box<Inbound>> {
        std::mem::take(&mut self.held)
    }

    /// Stores a group update that arrived ahead of its turn.
    pub fn buffer_update(&mut self, commit_id: u32, update: proto::GroupUpdatePayload) {
        if self.pending.len() < MAX_PENDING_COMMITS || self.pending.contains_key(&commit_id) {
            self.pending.insert(commit_id, update);
        }
    }

    /// The buffered update that comes next, if it arrived.
    pub fn next_buffered(&mut self) -> Option<(u32, proto::GroupUpdatePayload)> {
        let next = self.commit_id.checked_add(1)?;
        self.pending.remove(&next).map(|u| (next, u))
    }

    /// Forgets buffered updates at or below the current commit (after a welcome).
    pub fn drop_stale(&mut self) {
        let current = self.commit_id;
        self.pending.retain(|id, _| *id > current);
    }
}

/// The epoch a heartbeat or state update announces for an optional MLS state.
pub(crate) fn announced_epoch(state: Option<&MlsState>) -> u64 {
    state.map_or(NO_MLS_EPOCH, MlsState::epoch)
}
