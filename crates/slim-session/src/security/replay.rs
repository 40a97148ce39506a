//! [`ReplayGuard`]: remembers recent command-message ids per sender.
//!
//! Upstream rejects a signed command whose `(sender, message_id)` it has seen recently (an
//! LRU of 100 senders × 1000 ids) and requires non-zero ids. We keep the same bounds. What a
//! repeat means is decided by the caller: a repeated *request* is usually a retransmission
//! whose reply was lost, and is answered again without re-applying it; a repeated reply or
//! heartbeat is dropped.

use std::collections::VecDeque;

use slim_wire::NameKey;

use crate::fast_hash::{FastMap, FastSet};

#[derive(Debug, Default)]
struct Seen {
    order: VecDeque<u32>,
    set: FastSet<u32>,
    last_used: u64,
}

/// Recent command ids per sender, bounded in both dimensions.
#[derive(Debug)]
pub(crate) struct ReplayGuard {
    senders: FastMap<NameKey, Seen>,
    max_senders: usize,
    max_ids: usize,
    clock: u64,
}

impl ReplayGuard {
    /// A guard remembering `max_ids` ids for each of `max_senders` senders.
    pub fn new(max_senders: usize, max_ids: usize) -> Self {
        ReplayGuard {
            senders: FastMap::default(),
            max_senders: max_senders.max(1),
            max_ids: max_ids.max(1),
            clock: 0,
        }
    }

    /// Records `(sender, id)`; returns false when it was already recorded.
    pub fn check(&mut self, sender: NameKey, id: u32) -> bool {
        self.clock += 1;
        if !self.senders.contains_key(&sender) && self.senders.len() >= self.max_senders {
            // Evict the least recently used sender (linear: the table is small).
            if let Some(oldest) = self
                .senders
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(k, _)| *k)
            {
                self.senders.remove(&oldest);
            }
        }
        let seen = self.senders.entry(sender).or_default();
        seen.last_used = self.clock;
        if !seen.set.insert(id) {
            return false;
        }
        seen.order.push_back(id);
        if seen.order.len() > self.max_ids
            && let Some(old) = seen.order.pop_front()
        {
            seen.set.remove(&old);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slim_wire::InstanceId;

    fn key(n: u64) -> NameKey {
        NameKey {
            components: [n, n, n],
            id: InstanceId(u128::from(n)),
        }
    }

    #[test]
    fn repeats_are_detected_and_memory_is_bounded() {
        let mut guard = ReplayGuard::new(2, 3);
        assert!(guard.check(key(1), 10));
        assert!(!guard.check(key(1), 10));
        for id in 11..14 {
            assert!(guard.check(key(1), id));
        }
        // 10 was evicted by the per-sender bound.
        assert!(guard.check(key(1), 10));
        assert!(guard.check(key(2), 10));
        // A third sender evicts the least recently used one (key 1 was used last).
        guard.check(key(1), 99);
        assert!(guard.check(key(3), 10));
        assert!(!guard.check(key(1), 99), "sender 1 was kept");
        assert!(
            guard.check(key(2), 10),
            "sender 2 was evicted, so 10 is new again"
        );
    }
}
