//! Subscriptions learned from a peer and relayed to the other peers.
//!
//! A peer's subscription with enough TTL left is passed on to every other peer, so nodes in a
//! chain learn names several hops away. The router keeps each relayed subscription (the frame
//! as received, and the TTL it was relayed with) for two reasons: a peer that connects later
//! gets them in its initial sync, and when the peer they came from goes away, the other peers
//! get an unsubscribe instead of keeping a dead route forever (upstream leaves them).
//!
//! Bounded by the peers' subscription limits: each entry corresponds to a route.

use slim_wire::{Frame, NameKey};

use crate::conn::ConnId;
use crate::hash::{KeyedMap, KeyedState};

/// One relayed subscription.
#[derive(Clone, Debug)]
pub(crate) struct Relay {
    pub(crate) frame: Frame,
    pub(crate) ttl: u32,
}

/// See the module docs. Keyed by (peer it came from, name, subscription id).
#[derive(Debug)]
pub(crate) struct Relays {
    entries: KeyedMap<(ConnId, NameKey, u64), Relay>,
}

impl Relays {
    pub(crate) fn new(hasher: KeyedState) -> Self {
        Relays {
            entries: KeyedMap::with_hasher(hasher),
        }
    }

    pub(crate) fn insert(&mut self, from: ConnId, key: NameKey, id: u64, relay: Relay) {
        self.entries.insert((from, key, id), relay);
    }

    pub(crate) fn remove(&mut self, from: ConnId, key: NameKey, id: u64) -> Option<Relay> {
        self.entries.remove(&(from, key, id))
    }

    /// Relays that did not come from `peer`, in a stable order: what `peer` would have been
    /// sent had it been connected all along.
    pub(crate) fn not_from(&self, peer: ConnId) -> Vec<Relay> {
        let mut all: Vec<_> = self
            .entries
            .iter()
            .filter(|((from, _, _), _)| *from != peer)
            .collect();
        all.sort_unstable_by_key(|&(&key, _)| key);
        all.into_iter().map(|(_, relay)| relay.clone()).collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}
