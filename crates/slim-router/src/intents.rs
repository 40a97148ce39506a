//! What local connections asked for on other connections, remembered so it survives the
//! other connection's reconnection.
//!
//! Two requests from local connections target another connection: `forward_to` (subscribe
//! upstream: the subscription was sent on the target) and `recv_from` (set a route: the name
//! is reachable through the target). Upstream loses routes when a link flaps; here both are
//! remembered, replayed when a connection with the target's id is added again, and withdrawn
//! when the local connection that asked goes away (its requests die with it).
//!
//! Bounded by the routes they create: every intent corresponds to a route counted against a
//! connection's subscription limit.

use slim_wire::{Frame, NameKey};

use crate::conn::ConnId;
use crate::hash::{KeyedMap, KeyedState};

/// What was asked.
#[derive(Clone, Debug)]
pub(crate) enum Request {
    /// The subscription `frame` was forwarded on the target (with this TTL). Boxed: frames
    /// are large and most intents are routes.
    Forwarded { frame: Box<Frame>, ttl: u32 },
    /// The name is routed through the target.
    Route,
}

impl Request {
    fn is_route(&self) -> bool {
        matches!(self, Request::Route)
    }
}

/// One remembered request.
#[derive(Clone, Debug)]
pub(crate) struct Intent {
    pub(crate) owner: ConnId,
    pub(crate) target: ConnId,
    pub(crate) key: NameKey,
    pub(crate) id: u64,
    pub(crate) request: Request,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Intents {
    by_target: KeyedMap<ConnId, Vec<Intent>>,
}

impl Intents {
    pub(crate) fn new(hasher: KeyedState) -> Self {
        Intents {
            by_target: KeyedMap::with_hasher(hasher),
        }
    }

    /// Remembers `intent`, replacing an equal request (same target, name, id and kind).
    pub(crate) fn remember(&mut self, intent: Intent) {
        let list = self.by_target.entry(intent.target).or_default();
        let same = |i: &Intent| {
            i.key == intent.key
                && i.id == intent.id
                && i.request.is_route() == intent.request.is_route()
        };
        match list.iter_mut().find(|i| same(i)) {
            Some(existing) => *existing = intent,
            None => list.push(intent),
        }
    }

    /// Forgets the request of this kind for (`target`, `key`) under `id`, or under any id when
    /// none matches (as unsubscribes release any one reference). Returns it.
    pub(crate) fn forget(
        &mut self,
        target: ConnId,
        key: NameKey,
        id: u64,
        route: bool,
    ) -> Option<Intent> {
        let list = self.by_target.get_mut(&target)?;
        let matches = |i: &Intent| i.key == key && i.request.is_route() == route;
        let pos = list
            .iter()
            .position(|i| matches(i) && i.id == id)
            .or_else(|| list.iter().position(matches))?;
        let intent = list.remove(pos);
        if list.is_empty() {
            self.by_target.remove(&target);
        }
        Some(intent)
    }

    /// Requests targeting `target`, in the order they were made.
    pub(crate) fn for_target(&self, target: ConnId) -> Vec<Intent> {
        self.by_target.get(&target).cloned().unwrap_or_default()
    }

    /// Forgets and returns every request `owner` made, sorted by target.
    pub(crate) fn remove_owner(&mut self, owner: ConnId) -> Vec<Intent> {
        let mut removed = Vec::new();
        for list in self.by_target.values_mut() {
            let mut i = 0;
            while i < list.len() {
                if list[i].owner == owner {
                    removed.push(list.remove(i));
                } else {
                    i += 1;
                }
            }
        }
        self.by_target.retain(|_, list| !list.is_empty());
        removed.sort_by_key(|i| (i.target, i.key, i.id));
        removed
    }

    pub(crate) fn len(&self) -> usize {
        self.by_target.values().map(Vec::len).sum()
    }
}
