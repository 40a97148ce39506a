//! Subscriptions forwarded downstream (`forward_to`) that wait for the downstream
//! acknowledgement, with their resend timers.
//!
//! Keyed by (downstream connection, subscription id), since that is what the answering
//! `SubscriptionAck` identifies. Each entry keeps the frame to resend, who is waiting for the
//! answer (local connections; none for replays after a reconnect) and its deadline. Deadlines
//! sit in an ordered set next to the map, so the earliest one is found without a scan.

use std::collections::BTreeSet;
use std::time::Instant;

use slim_wire::{Frame, NameKey};

use crate::conn::ConnId;
use crate::hash::{KeyedMap, KeyedState};
use crate::seen::Op;

/// One forwarded subscription awaiting its acknowledgement.
#[derive(Clone, Debug)]
pub(crate) struct PendingAck {
    /// Local connections to answer; empty when nobody waits (replays, withdrawals).
    pub(crate) requesters: Vec<ConnId>,
    pub(crate) key: NameKey,
    pub(crate) op: Op,
    /// Resent as is on timeout.
    pub(crate) frame: Frame,
    pub(crate) ttl: u32,
    pub(crate) deadline: Instant,
    pub(crate) retries_left: u32,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct PendingAcks {
    entries: KeyedMap<(ConnId, u64), PendingAck>,
    deadlines: BTreeSet<(Instant, ConnId, u64)>,
}

impl PendingAcks {
    pub(crate) fn new(hasher: KeyedState) -> Self {
        PendingAcks {
            entries: KeyedMap::with_hasher(hasher),
            deadlines: BTreeSet::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn contains(&self, target: ConnId, id: u64) -> bool {
        self.entries.contains_key(&(target, id))
    }

    /// Starts waiting, or, when the same subscription is already awaited, adds the requester
    /// and restarts the wait with the new frame.
    pub(crate) fn insert(&mut self, target: ConnId, id: u64, pending: PendingAck) {
        let deadline = pending.deadline;
        let entry = match self.entries.remove(&(target, id)) {
            Some(mut old) => {
                self.deadlines.remove(&(old.deadline, target, id));
                for r in pending.requesters {
                    if !old.requesters.contains(&r) {
                        old.requesters.push(r);
                    }
                }
                PendingAck {
                    requesters: old.requesters,
                    ..pending
                }
            }
            None => pending,
        };
        self.entries.insert((target, id), entry);
        self.deadlines.insert((deadline, target, id));
    }

    /// Stops waiting for (`target`, `id`) and returns what was waiting.
    pub(crate) fn resolve(&mut self, target: ConnId, id: u64) -> Option<PendingAck> {
        let pending = self.entries.remove(&(target, id))?;
        self.deadlines.remove(&(pending.deadline, target, id));
        Some(pending)
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|&(at, _, _)| at)
    }

    /// Keys whose deadline is at or before `now`, earliest first.
    pub(crate) fn due(&self, now: Instant) -> Vec<(ConnId, u64)> {
        self.deadlines
            .iter()
            .take_while(|(at, _, _)| *at <= now)
            .map(|&(_, conn, id)| (conn, id))
            .collect()
    }

    /// Moves the deadline of a waiting entry.
    pub(crate) fn reschedule(&mut self, target: ConnId, id: u64, deadline: Instant) {
        if let Some(pending) = self.entries.get_mut(&(target, id)) {
            self.deadlines.remove(&(pending.deadline, target, id));
            pending.deadline = deadline;
            self.deadlines.insert((deadline, target, id));
        }
    }

    pub(crate) fn get_mut(&mut self, target: ConnId, id: u64) -> Option<&mut PendingAck> {
        self.entries.get_mut(&(target, id))
    }

    /// Removes everything waiting on `target` (it went away), sorted by id.
    pub(crate) fn remove_target(&mut self, target: ConnId) -> Vec<(u64, PendingAck)> {
        let mut ids: Vec<u64> = self
            .entries
            .keys()
            .filter(|(conn, _)| *conn == target)
            .map(|&(_, id)| id)
            .collect();
        ids.sort_unstable();
        ids.into_iter()
            .filter_map(|id| self.resolve(target, id).map(|p| (id, p)))
            .collect()
    }

    /// `requester` went away: nobody needs to be told about its requests any more.
    pub(crate) fn forget_requester(&mut self, requester: ConnId) {
        for pending in self.entries.values_mut() {
            pending.requesters.retain(|&r| r != requester);
        }
    }
}
