//! Replay protection for signed control messages.
//!
//! A valid signature proves who sent a control message, not that it is new: a captured
//! message could be re-injected. Upstream therefore remembers, per sender, the message ids of
//! the control messages it accepted and rejects repeats; a message id of zero is never valid.
//! Memory is bounded twice over, as upstream does: at most [`DEFAULT_MAX_SENDERS`] senders
//! (least recently heard from evicted first), each with at most
//! [`DEFAULT_MAX_IDS_PER_SENDER`] remembered ids (oldest evicted first).
//!
//! Retransmissions of a control message reuse its id, so the session layer must consult the
//! guard only for messages it is about to act on, after deduplicating retransmissions the way
//! its protocol requires (a duplicate request is answered again, not re-executed).

use std::borrow::Borrow;
use std::hash::Hash;
use std::num::NonZeroUsize;

use lru::LruCache;

/// Default number of senders remembered (upstream: 100).
pub const DEFAULT_MAX_SENDERS: usize = 100;

/// Default number of message ids remembered per sender (upstream: 1000).
pub const DEFAULT_MAX_IDS_PER_SENDER: usize = 1000;

/// Why a control message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// Control messages must carry a non-zero message id.
    #[error("control message id is zero")]
    ZeroMessageId,
    /// This sender already used this id.
    #[error("control message id {0} replayed")]
    Replayed(u32),
}

/// Per-sender memory of accepted control-message ids. `K` identifies a sender (its name, or
/// the `sub` of its verified token).
pub struct ControlReplayGuard<K: Hash + Eq = String> {
    senders: LruCache<K, LruCache<u32, ()>>,
    ids_per_sender: NonZeroUsize,
}

impl<K: Hash + Eq> Default for ControlReplayGuard<K> {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_SENDERS, DEFAULT_MAX_IDS_PER_SENDER)
    }
}

impl<K: Hash + Eq> ControlReplayGuard<K> {
    /// A guard remembering up to `max_senders` senders × `max_ids_per_sender` ids (each at
    /// least 1).
    pub fn new(max_senders: usize, max_ids_per_sender: usize) -> Self {
        Self {
            senders: LruCache::new(NonZeroUsize::new(max_senders).unwrap_or(NonZeroUsize::MIN)),
            ids_per_sender: NonZeroUsize::new(max_ids_per_sender).unwrap_or(NonZeroUsize::MIN),
        }
    }

    /// Accepts `message_id` from `sender` if it is non-zero and new, and remembers it.
    pub fn check_and_record<Q>(&mut self, sender: &Q, message_id: u32) -> Result<(), ReplayError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        if message_id == 0 {
            return Err(ReplayError::ZeroMessageId);
        }
        if let Some(seen) = self.senders.get_mut(sender) {
            if seen.contains(&message_id) {
                return Err(ReplayError::Replayed(message_id));
            }
            seen.push(message_id, ());
            return Ok(());
        }
        let mut seen = LruCache::new(self.ids_per_sender);
        seen.push(message_id, ());
        self.senders.push(sender.to_owned(), seen);
        Ok(())
    }

    /// Forgets everything about `sender` (e.g. when it leaves the session).
    pub fn forget_sender<Q>(&mut self, sender: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.senders.pop(sender);
    }

    /// Number of senders currently remembered.
    pub fn senders(&self) -> usize {
        self.senders.len()
    }
}

impl<K: Hash + Eq> std::fmt::Debug for ControlReplayGuard<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlReplayGuard")
            .field("senders", &self.senders.len())
            .field("max_senders", &self.senders.cap())
            .field("ids_per_sender", &self.ids_per_sender)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_and_zero_are_refused_per_sender() {
        let mut guard: ControlReplayGuard = ControlReplayGuard::default();
        assert_eq!(
            guard.check_and_record("alice", 0),
            Err(ReplayError::ZeroMessageId)
        );
        guard.check_and_record("alice", 7).unwrap();
        assert_eq!(
            guard.check_and_record("alice", 7),
            Err(ReplayError::Replayed(7))
        );
        guard.check_and_record("bob", 7).unwrap();
        guard.check_and_record("alice", 8).unwrap();
    }

    #[test]
    fn ids_per_sender_are_bounded_oldest_first() {
        let mut guard: ControlReplayGuard = ControlReplayGuard::new(10, 3);
        for id in 1..=3 {
            guard.check_and_record("alice", id).unwrap();
        }
        guard.check_and_record("alice", 4).unwrap();
        // Id 1 fell out of the window; 2..=4 are still refused.
        guard.check_and_record("alice", 1).unwrap();
        for id in 3..=4 {
            assert_eq!(
                guard.check_and_record("alice", id),
                Err(ReplayError::Replayed(id))
            );
        }
    }

    #[test]
    fn senders_are_bounded_least_recent_first() {
        let mut guard: ControlReplayGuard = ControlReplayGuard::new(2, 10);
        guard.check_and_record("a", 1).unwrap();
        guard.check_and_record("b", 1).unwrap();
        guard.check_and_record("a", 2).unwrap(); // a is now the most recent
        guard.check_and_record("c", 1).unwrap(); // evicts b
        assert_eq!(guard.senders(), 2);
        assert_eq!(
            guard.check_and_record("a", 1),
            Err(ReplayError::Replayed(1))
        );
        guard.check_and_record("b", 1).unwrap();
    }

    #[test]
    fn forgetting_a_sender_clears_its_ids() {
        let mut guard: ControlReplayGuard = ControlReplayGuard::default();
        guard.check_and_record("a", 5).unwrap();
        guard.forget_sender("a");
        guard.check_and_record("a", 5).unwrap();
    }

    #[test]
    fn memory_stays_within_the_bounds_under_a_flood() {
        let mut guard: ControlReplayGuard<u64> = ControlReplayGuard::new(100, 1000);
        for sender in 0..300u64 {
            for id in 1..=1200u32 {
                guard.check_and_record(&sender, id).unwrap();
            }
        }
        assert_eq!(guard.senders(), 100);
        assert!(guard.senders.iter().all(|(_, ids)| ids.len() == 1000));
    }
}
