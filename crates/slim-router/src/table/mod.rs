//! The subscription table: which connections want which names, and the lookups that route
//! publishes.
//!
//! Two indexes serve the two kinds of destination:
//! - `exact`: [`NameKey`] (three component hashes + instance id) → [`Slot`], the routes of
//!   that exact name. A publish to a specific instance looks only here, so it never falls back
//!   to an any-instance subscription.
//! - `services`: the three component hashes → [`Service`], the union over every instance
//!   (any-instance subscriptions included) with a count of how many instance slots each
//!   connection appears in. A publish to [`InstanceId::ANY`] (anycast) looks only here.
//!
//! Both keep their routes sorted by connection kind, with a round-robin cursor, so one-output
//! routing is a hash lookup plus a short scan ([`select`]). A third index, `by_conn`, lists the
//! names each connection holds, for clean-up, limits and listings.
//!
//! A route (name, connection) is reference-counted by subscription id ([`ids`]): it exists
//! while at least one id holds it. The table reports the transitions the router propagates:
//! the first and last *non-peer* route of a name.
//!
//! Layout: `ids.rs` (reference counts), `select.rs` (choosing connections), this file (the
//! indexes and their updates), `tests.rs`.

mod ids;
pub(crate) mod select;
#[cfg(test)]
mod tests;

use slim_wire::{InstanceId, Name, NameKey};

use crate::conn::{ConnId, ConnKind};
use crate::hash::{KeyedMap, KeyedSet, KeyedState};
use ids::{IdRemoval, Ids};
use select::{Candidate, Filter};

/// One connection's route to an exact name.
#[derive(Clone, Debug)]
struct Route {
    conn: ConnId,
    kind: ConnKind,
    ids: Ids,
}

impl Candidate for Route {
    fn conn(&self) -> ConnId {
        self.conn
    }
    fn kind(&self) -> ConnKind {
        self.kind
    }
}

/// The routes of one exact name.
#[derive(Clone, Debug, Default)]
struct Slot {
    /// Sorted by kind rank.
    routes: Vec<Route>,
    cursor: usize,
    /// Id under which this name was propagated to peers (0: not propagated).
    propagation: u64,
}

impl Slot {
    fn has_non_peer(&self) -> bool {
        self.routes.iter().any(|r| r.kind != ConnKind::Peer)
    }
}

/// A connection's presence among the instances of one service.
#[derive(Clone, Debug)]
struct Member {
    conn: ConnId,
    kind: ConnKind,
    /// In how many instance slots of the service this connection has a route.
    slots: u32,
}

impl Candidate for Member {
    fn conn(&self) -> ConnId {
        self.conn
    }
    fn kind(&self) -> ConnKind {
        self.kind
    }
}

/// All instances of one service (`org/ns/svc`), for anycast.
#[derive(Clone, Debug, Default)]
struct Service {
    /// Sorted by kind rank, one entry per connection.
    members: Vec<Member>,
    cursor: usize,
    /// The service name with its strings, when some subscription carried them (listings).
    display: Option<Name>,
}

/// Per-connection bookkeeping.
#[derive(Clone, Debug)]
struct Holdings {
    names: KeyedSet<NameKey>,
    /// Subscription references held (sum of route id counts).
    refs: usize,
}

/// Result of [`SubscriptionTable::add`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Added {
    /// The connection already held this name under this id.
    AlreadyHeld,
    /// Another reference to an existing route.
    Reference,
    /// A new route; `first_non_peer` when it is the name's first route through a non-peer
    /// connection (the name just became reachable here and should be propagated).
    Route { first_non_peer: bool },
}

/// Result of [`SubscriptionTable::remove`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Removed {
    /// The connection holds no route to the name.
    NotHeld,
    /// The reference `id` is gone; the route remains.
    Reference { id: u64 },
    /// The last reference, `id`, is gone and the route with it. `withdrawn` is the
    /// propagation id when that was the name's last non-peer route (the name must be withdrawn
    /// from peers); 0 otherwise.
    Route { id: u64, withdrawn: u64 },
}

/// A route as listed for operators.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteInfo {
    /// The name, with its strings when known.
    pub name: Name,
    /// Connection the name is reachable through.
    pub conn: ConnId,
    /// Its kind (the route's category).
    pub kind: ConnKind,
    /// Subscription ids holding the route, sorted.
    pub subscription_ids: Vec<u64>,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct SubscriptionTable {
    exact: KeyedMap<NameKey, Slot>,
    services: KeyedMap<[u64; 3], Service>,
    by_conn: KeyedMap<ConnId, Holdings>,
    hasher: KeyedState,
    routes: usize,
    refs: usize,
}

impl SubscriptionTable {
    pub(crate) fn new(hasher: KeyedState) -> Self {
        SubscriptionTable {
            exact: KeyedMap::with_hasher(hasher),
            services: KeyedMap::with_hasher(hasher),
            by_conn: KeyedMap::with_hasher(hasher),
            hasher,
            routes: 0,
            refs: 0,
        }
    }

    /// Subscription references `conn` holds.
    pub(crate) fn refs_of(&self, conn: ConnId) -> usize {
        self.by_conn.get(&conn).map_or(0, |h| h.refs)
    }

    /// Routes through `conn`.
    pub(crate) fn routes_of(&self, conn: ConnId) -> usize {
        self.by_conn.get(&conn).map_or(0, |h| h.names.len())
    }

    pub(crate) fn route_count(&self) -> usize {
        self.routes
    }

    pub(crate) fn ref_count(&self) -> usize {
        self.refs
    }

    /// Adds `id` to the route (`key`, `conn`). `display` supplies the name with strings if the
    /// service has none yet (it allocates, so it is only called when needed).
    pub(crate) fn add(
        &mut self,
        conn: ConnId,
        kind: ConnKind,
        key: NameKey,
        id: u64,
        display: impl FnOnce() -> Option<Name>,
    ) -> Added {
        let slot = self.exact.entry(key).or_default();
        if let Some(route) = slot.routes.iter_mut().find(|r| r.conn == conn) {
            if !route.ids.insert(id) {
                return Added::AlreadyHeld;
            }
            self.refs += 1;
            self.holdings(conn).refs += 1;
            return Added::Reference;
        }
        let first_non_peer = kind != ConnKind::Peer && !slot.has_non_peer();
        let at = select::insertion_point(&slot.routes, kind);
        slot.routes.insert(
            at,
            Route {
                conn,
                kind,
                ids: Ids::new(id),
            },
        );
        self.routes += 1;
        self.refs += 1;
        let holdings = self.holdings(conn);
        holdings.refs += 1;
        holdings.names.insert(key);

        let service = self.services.entry(key.components).or_default();
        match service.members.iter_mut().find(|m| m.conn == conn) {
            Some(member) => member.slots += 1,
            None => {
                let at = select::insertion_point(&service.members, kind);
                service.members.insert(
                    at,
                    Member {
                        conn,
                        kind,
                        slots: 1,
                    },
                );
            }
        }
        if service.display.is_none() {
            service.display = display().map(|name| name.with_id(InstanceId::ANY));
        }
        Added::Route { first_non_peer }
    }

    fn holdings(&mut self, conn: ConnId) -> &mut Holdings {
        let hasher = self.hasher;
        self.by_conn.entry(conn).or_insert_with(|| Holdings {
            names: KeyedSet::with_hasher(hasher),
            refs: 0,
        })
    }

    /// Removes a reference of `conn` to `key`: the id `id` when the route holds it, otherwise
    /// (when `or_any`) its smallest id, so clients that unsubscribe under a fresh id still
    /// release one reference.
    pub(crate) fn remove(&mut self, conn: ConnId, key: NameKey, id: u64, or_any: bool) -> Removed {
        let Some(slot) = self.exact.get_mut(&key) else {
            return Removed::NotHeld;
        };
        let Some(pos) = slot.routes.iter().position(|r| r.conn == conn) else {
            return Removed::NotHeld;
        };
        let ids = &mut slot.routes[pos].ids;
        let (id, removal) = match ids.remove(id) {
            IdRemoval::Absent if or_any => {
                let any = ids.smallest();
                (any, ids.remove(any))
            }
            other => (id, other),
        };
        match removal {
            IdRemoval::Absent => Removed::NotHeld,
            IdRemoval::Removed => {
                self.refs -= 1;
                if let Some(h) = self.by_conn.get_mut(&conn) {
                    h.refs -= 1;
                }
                Removed::Reference { id }
            }
            IdRemoval::Last => {
                let (_, withdrawn, _) = self.drop_route(conn, key);
                Removed::Route { id, withdrawn }
            }
        }
    }

    /// Removes the whole route (`key`, `conn`), whatever ids hold it. Returns the ids, the
    /// propagation id to withdraw (0 if none) and whether that was the last non-peer route.
    fn drop_route(&mut self, conn: ConnId, key: NameKey) -> (Vec<u64>, u64, bool) {
        let Some(slot) = self.exact.get_mut(&key) else {
            return (Vec::new(), 0, false);
        };
        let Some(pos) = slot.routes.iter().position(|r| r.conn == conn) else {
            return (Vec::new(), 0, false);
        };
        let route = slot.routes.remove(pos);
        let last_non_peer = route.kind != ConnKind::Peer && !slot.has_non_peer();
        let withdrawn = if last_non_peer {
            std::mem::take(&mut slot.propagation)
        } else {
            0
        };
        if slot.routes.is_empty() {
            self.exact.remove(&key);
        }
        let count = route.ids.len();
        self.routes -= 1;
        self.refs -= count;
        if let Some(h) = self.by_conn.get_mut(&conn) {
            h.refs -= count;
            h.names.remove(&key);
            if h.names.is_empty() {
                self.by_conn.remove(&conn);
            }
        }
        if let Some(service) = self.services.get_mut(&key.components) {
            if let Some(at) = service.members.iter().position(|m| m.conn == conn) {
                service.members[at].slots -= 1;
                if service.members[at].slots == 0 {
                    service.members.remove(at);
                }
            }
            if service.members.is_empty() {
                self.services.remove(&key.components);
            }
        }
        (route.ids.to_vec(), withdrawn, last_non_peer)
    }

    /// Removes every route of `conn`. For each name: its key, the ids that held it, the
    /// propagation id to withdraw (0 if none) and whether it was the last non-peer route.
    pub(crate) fn remove_conn(&mut self, conn: ConnId) -> Vec<(NameKey, Vec<u64>, u64, bool)> {
        let Some(holdings) = self.by_conn.get(&conn) else {
            return Vec::new();
        };
        let mut keys: Vec<NameKey> = holdings.names.iter().copied().collect();
        // Deterministic order for the outputs this produces.
        keys.sort_unstable();
        keys.into_iter()
            .map(|key| {
                let (ids, withdrawn, last) = self.drop_route(conn, key);
                (key, ids, withdrawn, last)
            })
            .collect()
    }

    /// Whether `conn` holds `key` under `id`.
    pub(crate) fn holds(&self, conn: ConnId, key: NameKey, id: u64) -> bool {
        self.exact
            .get(&key)
            .and_then(|slot| slot.routes.iter().find(|r| r.conn == conn))
            .is_some_and(|r| r.ids.contains(id))
    }

    /// The peer connection whose route to `key` is held by `id`.
    pub(crate) fn peer_holding(&self, key: NameKey, id: u64) -> Option<ConnId> {
        let slot = self.exact.get(&key)?;
        slot.routes
            .iter()
            .find(|r| r.kind == ConnKind::Peer && r.ids.contains(id))
            .map(|r| r.conn)
    }

    /// Records the id under which `key` was propagated to peers.
    pub(crate) fn set_propagation(&mut self, key: NameKey, id: u64) {
        if let Some(slot) = self.exact.get_mut(&key) {
            slot.propagation = id;
        }
    }

    /// Names reachable through non-peer connections with their propagation ids, sorted by key.
    pub(crate) fn propagated(&self) -> Vec<(NameKey, u64)> {
        let mut all: Vec<_> = self
            .exact
            .iter()
            .filter(|(_, slot)| slot.propagation != 0)
            .map(|(&key, slot)| (key, slot.propagation))
            .collect();
        all.sort_unstable();
        all
    }

    /// One connection for a publish to `key` (fanout 1).
    pub(crate) fn match_one(&mut self, key: NameKey, filter: Filter) -> Option<ConnId> {
        if key.id.is_any() {
            let service = self.services.get_mut(&key.components)?;
            select::pick_one(&service.members, &mut service.cursor, filter)
        } else {
            let slot = self.exact.get_mut(&key)?;
            select::pick_one(&slot.routes, &mut slot.cursor, filter)
        }
    }

    /// Every connection for a publish to `key` (fanout > 1).
    pub(crate) fn match_all(&self, key: NameKey, filter: Filter, each: impl FnMut(ConnId)) {
        if key.id.is_any() {
            if let Some(service) = self.services.get(&key.components) {
                select::for_each(&service.members, filter, each);
            }
        } else if let Some(slot) = self.exact.get(&key) {
            select::for_each(&slot.routes, filter, each);
        }
    }

    /// The name with its strings when any subscription to its service carried them.
    pub(crate) fn display_name(&self, key: NameKey) -> Name {
        self.services
            .get(&key.components)
            .and_then(|s| s.display.as_ref())
            .map_or_else(|| Name::from_key(key), |name| name.with_id(key.id))
    }

    /// Routes of one connection, or of all connections, sorted by name then connection.
    pub(crate) fn list(&self, only: Option<ConnId>) -> Vec<RouteInfo> {
        let mut keys: Vec<NameKey> = match only {
            Some(conn) => self
                .by_conn
                .get(&conn)
                .map(|h| h.names.iter().copied().collect())
                .unwrap_or_default(),
            None => self.exact.keys().copied().collect(),
        };
        keys.sort_unstable();
        let mut out = Vec::new();
        for key in keys {
            let Some(slot) = self.exact.get(&key) else {
                continue;
            };
            let name = self.display_name(key);
            for route in &slot.routes {
                if only.is_none_or(|c| c == route.conn) {
                    out.push(RouteInfo {
                        name: name.clone(),
                        conn: route.conn,
                        kind: route.kind,
                        subscription_ids: route.ids.to_vec(),
                    });
                }
            }
        }
        out
    }
}
