//! Loop prevention: the subscription ids this router has recently handled.
//!
//! A subscription keeps its id as it spreads from node to node, so an id that comes back over
//! another node link is a copy that went around a loop. The router remembers, per id, the last
//! operation (subscribe or unsubscribe), the connection it arrived on (`None` when the router
//! originated it) and when. Remembering the operation lets an unsubscribe through, and a later
//! re-subscribe under the same id, while still catching copies of each.
//!
//! Memory is bounded by `capacity` ids (the oldest is forgotten first). An id older than `ttl`
//! no longer counts, and is forgotten when the next id is recorded or a timeout is handled
//! (no timer runs just for this, so an idle node stays asleep). Loops close within one
//! propagation round, and the TTL of the frames bounds any copy that outlives its entry.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::conn::ConnId;
use crate::hash::{KeyedMap, KeyedState};

/// The two subscription operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Subscribe,
    Unsubscribe,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    op: Op,
    from: Option<ConnId>,
    at: Instant,
    /// Matches the entry's latest position in `order`; older positions are stale.
    seq: u64,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct SeenIds {
    entries: KeyedMap<u64, Entry>,
    /// Ids in the order they were (last) recorded.
    order: VecDeque<(u64, u64)>,
    next_seq: u64,
    capacity: usize,
    ttl: Duration,
}

impl SeenIds {
    pub(crate) fn new(capacity: usize, ttl: Duration, hasher: KeyedState) -> Self {
        SeenIds {
            entries: KeyedMap::with_hasher(hasher),
            order: VecDeque::new(),
            next_seq: 0,
            capacity: capacity.max(1),
            ttl,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The last operation recorded for `id` and where it came from, unless expired.
    pub(crate) fn get(&self, id: u64, now: Instant) -> Option<(Op, Option<ConnId>)> {
        let entry = self.entries.get(&id)?;
        (now.saturating_duration_since(entry.at) < self.ttl).then_some((entry.op, entry.from))
    }

    pub(crate) fn record(&mut self, id: u64, op: Op, from: Option<ConnId>, now: Instant) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.entries.insert(
            id,
            Entry {
                op,
                from,
                at: now,
                seq,
            },
        );
        self.order.push_back((id, seq));
        self.purge(now);
        if self.order.len() > 2 * self.capacity + 16 {
            self.compact();
        }
    }

    /// Forgets expired ids and the oldest ones beyond the capacity.
    pub(crate) fn purge(&mut self, now: Instant) {
        while let Some(&(id, seq)) = self.order.front() {
            let current = self.entries.get(&id).filter(|e| e.seq == seq);
            match current {
                None => {
                    self.order.pop_front();
                }
                Some(entry) => {
                    let expired = now.saturating_duration_since(entry.at) >= self.ttl;
                    if expired || self.entries.len() > self.capacity {
                        self.entries.remove(&id);
                        self.order.pop_front();
                    } else {
                        break;
                    }
                }
            }
        }
    }

    /// Drops stale positions (ids recorded again later) so `order` stays proportional to the
    /// number of entries.
    fn compact(&mut self) {
        let entries = &self.entries;
        self.order
            .retain(|(id, seq)| entries.get(id).is_some_and(|e| e.seq == *seq));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(capacity: usize) -> SeenIds {
        SeenIds::new(capacity, Duration::from_secs(10), KeyedState::new(0))
    }

    #[test]
    fn remembers_the_last_operation_and_origin() {
        let now = Instant::now();
        let mut ids = seen(8);
        ids.record(5, Op::Subscribe, Some(ConnId(1)), now);
        assert_eq!(ids.get(5, now), Some((Op::Subscribe, Some(ConnId(1)))));
        ids.record(5, Op::Unsubscribe, None, now);
        assert_eq!(ids.get(5, now), Some((Op::Unsubscribe, None)));
        assert_eq!(ids.get(6, now), None);
    }

    #[test]
    fn forgets_after_the_ttl() {
        let now = Instant::now();
        let mut ids = seen(8);
        ids.record(5, Op::Subscribe, None, now);
        let later = now + Duration::from_secs(10);
        assert_eq!(ids.get(5, later), None);
        ids.purge(later);
        assert_eq!(ids.len(), 0);
    }

    #[test]
    fn capacity_evicts_the_oldest_and_order_stays_bounded() {
        let now = Instant::now();
        let mut ids = seen(3);
        for id in 1..=5 {
            ids.record(id, Op::Subscribe, None, now);
        }
        assert_eq!(ids.len(), 3);
        assert_eq!(ids.get(1, now), None);
        assert_eq!(ids.get(2, now), None);
        assert!(ids.get(5, now).is_some());
        // Re-recording the same id many times must not grow the queue without bound.
        for _ in 0..1000 {
            ids.record(5, Op::Subscribe, None, now);
        }
        assert!(ids.order.len() <= 2 * 3 + 16);
        assert!(ids.get(3, now).is_some() && ids.get(4, now).is_some());
    }
}
