//! [`Table`]: which application on a shared connection subscribed which name, and who gets a
//! frame.
//!
//! The node sees one connection and sends it one copy of a frame however many of the
//! applications behind it subscribed the destination; the table finds them. It follows the
//! node's rules (`slim-router`), so that an application behaves the same on a shared
//! connection and on its own:
//!
//! - a destination with an instance id matches only subscriptions to exactly that id;
//!   [`InstanceId::ANY`] matches every subscription to the service;
//! - fanout ≤ 1 picks one match, round-robin; fanout > 1 takes every matching application
//!   (each once, however many of its names match);
//! - the sender never gets its own frame back.
//!
//! It also counts subscribers per name, so the node is asked for a name once, when the first
//! application wants it, and released when the last one no longer does.

use std::collections::HashMap;

use slim_wire::{Frame, InstanceId, NameKey};
use tokio::sync::mpsc;

/// Identifies an application attached to a connection.
pub(crate) type Slot = u64;

/// Seeded fast hashing: the connection's maps are looked up for every frame.
pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// The round-robin position per service, for fanout ≤ 1 (kept by the switch).
pub(crate) type Cursors = FastMap<[u64; 3], usize>;

/// One application's subscription to one name.
#[derive(Debug, Clone)]
struct Route {
    member: Slot,
    id: InstanceId,
    /// How many times this application subscribed the name (it unsubscribes as often).
    users: u32,
}

/// The subscriptions and the receiving queues of a shared connection's applications.
///
/// Cloned whole on every change (subscriptions change rarely; frames are routed often), so
/// readers work on a snapshot without locking.
#[derive(Debug, Clone, Default)]
pub(crate) struct Table {
    /// Subscriptions by service (`org/namespace/service` hashes).
    services: FastMap<[u64; 3], Vec<Route>>,
    /// Where each application's frames go.
    members: FastMap<Slot, mpsc::Sender<Vec<Frame>>>,
}

/// Why a subscription could not be withdrawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NotSubscribed;

impl Table {
    pub(crate) fn add_member(&mut self, member: Slot, queue: mpsc::Sender<Vec<Frame>>) {
        self.members.insert(member, queue);
    }

    /// Removes an application and its subscriptions; returns the names nobody else
    /// subscribed (to release at the node).
    pub(crate) fn remove_member(&mut self, member: Slot) -> Vec<NameKey> {
        self.members.remove(&member);
        let mut released = Vec::new();
        self.services.retain(|components, routes| {
            let mut gone = Vec::new();
            routes.retain(|route| {
                let mine = route.member == member;
                if mine {
                    gone.push(route.id);
                }
                !mine
            });
            for id in gone {
                if !routes.iter().any(|route| route.id == id) {
                    released.push(NameKey {
                        components: *components,
                        id,
                    });
                }
            }
            !routes.is_empty()
        });
        released
    }

    pub(crate) fn queue(&self, member: Slot) -> Option<&mpsc::Sender<Vec<Frame>>> {
        self.members.get(&member)
    }

    /// True when some application subscribed exactly `key`.
    pub(crate) fn is_subscribed(&self, key: NameKey) -> bool {
        self.services
            .get(&key.components)
            .is_some_and(|routes| routes.iter().any(|route| route.id == key.id))
    }

    /// `member` subscribes `key`.
    pub(crate) fn subscribe(&mut self, member: Slot, key: NameKey) {
        let routes = self.services.entry(key.components).or_default();
        match routes
            .iter_mut()
            .find(|route| route.member == member && route.id == key.id)
        {
            Some(route) => route.users = route.users.saturating_add(1),
            None => routes.push(Route {
                member,
                id: key.id,
                users: 1,
            }),
        }
    }

    /// `member` withdraws one subscription of `key`.
    pub(crate) fn unsubscribe(&mut self, member: Slot, key: NameKey) -> Result<(), NotSubscribed> {
        let routes = self
            .services
            .get_mut(&key.components)
            .ok_or(NotSubscribed)?;
        let index = routes
            .iter()
            .position(|route| route.member == member && route.id == key.id)
            .ok_or(NotSubscribed)?;
        let route = routes.get_mut(index).ok_or(NotSubscribed)?;
        route.users -= 1;
        if route.users == 0 {
            routes.swap_remove(index);
        }
        if routes.is_empty() {
            self.services.remove(&key.components);
        }
        Ok(())
    }

    /// Whether a frame to `destination` sent by `from` reaches another application here.
    pub(crate) fn reaches_another(&self, destination: NameKey, from: Slot) -> bool {
        self.matches(destination).any(|route| route.member != from)
    }

    /// The applications that get a frame to `destination` with `fanout`, sent by `from` (an
    /// application here) or by the node (`None`), appended to `out`. `cursors` keeps the
    /// round-robin position per service for fanout ≤ 1.
    pub(crate) fn select(
        &self,
        destination: NameKey,
        fanout: u32,
        from: Option<Slot>,
        cursors: &mut Cursors,
        out: &mut Vec<Slot>,
    ) {
        let start = out.len();
        for route in self.matches(destination) {
            let member = route.member;
            if Some(member) != from && !out[start..].contains(&member) {
                out.push(member);
            }
        }
        let found = out.len() - start;
        if fanout <= 1 && found > 1 {
            let cursor = cursors.entry(destination.components).or_default();
            let chosen = out[start + *cursor % found];
            *cursor = cursor.wrapping_add(1);
            out.truncate(start);
            out.push(chosen);
        }
    }

    fn matches(&self, destination: NameKey) -> impl Iterator<Item = &Route> {
        self.services
            .get(&destination.components)
            .into_iter()
            .flatten()
            .filter(move |route| destination.id.is_any() || route.id == destination.id)
    }
}

#[cfg(test)]
mod tests {
    use slim_wire::Name;

    use super::*;

    fn key(service: &str, id: u64) -> NameKey {
        let name = Name::new("org", "ns", service).unwrap();
        name.with_id(InstanceId(id.into())).key()
    }

    fn any(service: &str) -> NameKey {
        Name::new("org", "ns", service)
            .unwrap()
            .key()
            .with_id(InstanceId::ANY)
    }

    fn table(subscriptions: &[(Slot, NameKey)]) -> Table {
        let mut table = Table::default();
        for (member, key) in subscriptions {
            table.subscribe(*member, *key);
        }
        table
    }

    fn select(table: &Table, to: NameKey, fanout: u32, from: Option<Slot>) -> Vec<Slot> {
        let mut out = Vec::new();
        table.select(to, fanout, from, &mut Cursors::default(), &mut out);
        out.sort_unstable();
        out
    }

    #[test]
    fn a_specific_id_reaches_only_that_instance() {
        let table = table(&[(1, key("bob", 7)), (2, key("bob", 8)), (3, any("bob"))]);
        assert_eq!(select(&table, key("bob", 7), 1, None), [1]);
        assert_eq!(select(&table, key("bob", 7), 256, None), [1]);
        assert_eq!(select(&table, key("bob", 9), 256, None), Vec::<Slot>::new());
    }

    #[test]
    fn any_instance_reaches_every_subscriber_of_the_service() {
        let table = table(&[(1, key("chat", 7)), (2, key("chat", 8)), (3, any("chat"))]);
        assert_eq!(select(&table, any("chat"), 256, None), [1, 2, 3]);
        assert_eq!(select(&table, any("other"), 256, None), Vec::<Slot>::new());
    }

    #[test]
    fn fanout_one_goes_round_robin_and_never_back_to_the_sender() {
        let table = table(&[(1, key("svc", 1)), (2, key("svc", 2)), (3, key("svc", 3))]);
        let mut cursors = Cursors::default();
        let mut picked = Vec::new();
        for _ in 0..4 {
            let mut out = Vec::new();
            table.select(any("svc"), 1, Some(2), &mut cursors, &mut out);
            assert_eq!(out.len(), 1);
            picked.push(out[0]);
        }
        assert_eq!(picked, [1, 3, 1, 3]);
        assert_eq!(select(&table, any("svc"), 256, Some(2)), [1, 3]);
        assert!(table.reaches_another(any("svc"), 2));
        assert!(!table.reaches_another(key("svc", 2), 2), "only itself");
    }

    #[test]
    fn an_application_with_two_matching_names_gets_one_copy() {
        let table = table(&[(1, key("chat", 7)), (1, any("chat")), (2, key("chat", 8))]);
        assert_eq!(select(&table, any("chat"), 256, None), [1, 2]);
    }

    #[test]
    fn subscriptions_are_counted_per_application_and_per_name() {
        let mut table = table(&[
            (1, key("chat", 7)),
            (1, key("chat", 7)),
            (2, key("chat", 7)),
        ]);
        table.unsubscribe(1, key("chat", 7)).unwrap();
        table.unsubscribe(1, key("chat", 7)).unwrap();
        assert_eq!(table.unsubscribe(1, key("chat", 7)), Err(NotSubscribed));
        assert!(table.is_subscribed(key("chat", 7)), "member 2 still has it");
        table.unsubscribe(2, key("chat", 7)).unwrap();
        assert!(!table.is_subscribed(key("chat", 7)));
        assert_eq!(table.unsubscribe(2, key("other", 1)), Err(NotSubscribed));
    }

    #[test]
    fn removing_an_application_releases_only_the_names_nobody_else_has() {
        let (tx, _rx) = mpsc::channel(1);
        let mut table = table(&[(1, key("a", 1)), (1, key("chat", 0)), (2, key("chat", 0))]);
        table.add_member(1, tx.clone());
        table.add_member(2, tx);
        let released = table.remove_member(1);
        assert_eq!(released, [key("a", 1)]);
        assert!(table.queue(1).is_none() && table.queue(2).is_some());
        assert_eq!(select(&table, key("chat", 0), 256, None), [2]);
    }
}
