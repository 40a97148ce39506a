//! Table-level checks of reference counting, transitions and the two indexes.

use slim_wire::{InstanceId, Name, NameKey};

use super::*;

const NOBODY: Filter = Filter {
    exclude: ConnId(u64::MAX),
    skip_peers: false,
};

fn key(text: &str) -> NameKey {
    text.parse::<Name>().unwrap().key()
}

fn table() -> SubscriptionTable {
    SubscriptionTable::new(KeyedState::new(3))
}

#[test]
fn transitions_count_only_non_peer_routes() {
    let mut t = table();
    let k = key("org/ns/svc/1");
    let peer = |t: &mut SubscriptionTable, c, id| t.add(ConnId(c), ConnKind::Peer, k, id, || None);
    assert_eq!(
        peer(&mut t, 1, 10),
        Added::Route {
            first_non_peer: false
        }
    );
    assert_eq!(
        t.add(ConnId(2), ConnKind::Edge, k, 20, || None),
        Added::Route {
            first_non_peer: true
        }
    );
    assert_eq!(
        t.add(ConnId(3), ConnKind::Local, k, 30, || None),
        Added::Route {
            first_non_peer: false
        }
    );
    assert_eq!(
        t.add(ConnId(3), ConnKind::Local, k, 31, || None),
        Added::Reference
    );
    assert_eq!(
        t.add(ConnId(3), ConnKind::Local, k, 31, || None),
        Added::AlreadyHeld
    );
    t.set_propagation(k, 99);
    assert_eq!(
        t.remove(ConnId(2), k, 20, false),
        Removed::Route {
            id: 20,
            withdrawn: 0
        }
    );
    assert_eq!(
        t.remove(ConnId(3), k, 30, false),
        Removed::Reference { id: 30 }
    );
    assert_eq!(t.remove(ConnId(3), k, 77, false), Removed::NotHeld);
    assert_eq!(
        t.remove(ConnId(3), k, 31, false),
        Removed::Route {
            id: 31,
            withdrawn: 99
        }
    );
    assert_eq!(t.propagated(), []);
    assert_eq!((t.route_count(), t.ref_count()), (1, 1));
}

#[test]
fn exact_and_any_instance_lookups_use_their_own_index() {
    let mut t = table();
    t.add(ConnId(1), ConnKind::Edge, key("org/ns/svc/1"), 1, || None);
    t.add(ConnId(2), ConnKind::Edge, key("org/ns/svc"), 2, || None);
    assert_eq!(t.match_one(key("org/ns/svc/1"), NOBODY), Some(ConnId(1)));
    assert_eq!(t.match_one(key("org/ns/svc/2"), NOBODY), None);
    let mut any = Vec::new();
    t.match_all(key("org/ns/svc"), NOBODY, |c| any.push(c.0));
    any.sort_unstable();
    assert_eq!(any, [1, 2]);
}

#[test]
fn a_connection_with_several_instances_counts_once_for_anycast_until_all_go() {
    let mut t = table();
    for i in 1..=3u128 {
        let k = key("org/ns/svc").with_id(InstanceId(i));
        t.add(ConnId(7), ConnKind::Edge, k, i as u64, || None);
    }
    let mut any = Vec::new();
    t.match_all(key("org/ns/svc"), NOBODY, |c| any.push(c.0));
    assert_eq!(any, [7]);
    t.remove(
        ConnId(7),
        key("org/ns/svc").with_id(InstanceId(1)),
        1,
        false,
    );
    t.remove(
        ConnId(7),
        key("org/ns/svc").with_id(InstanceId(2)),
        2,
        false,
    );
    assert_eq!(t.match_one(key("org/ns/svc"), NOBODY), Some(ConnId(7)));
    let removed = t.remove_conn(ConnId(7));
    assert_eq!(removed.len(), 1);
    assert_eq!(t.match_one(key("org/ns/svc"), NOBODY), None);
    assert_eq!(
        (t.route_count(), t.ref_count(), t.routes_of(ConnId(7))),
        (0, 0, 0)
    );
}

#[test]
fn listings_keep_the_strings_of_the_first_subscription_that_had_them() {
    let mut t = table();
    let k = key("org/ns/svc/4");
    t.add(ConnId(1), ConnKind::Edge, k, 1, || None);
    t.add(ConnId(2), ConnKind::Edge, k, 2, || {
        Some("org/ns/svc/4".parse().unwrap())
    });
    let listed = t.list(None);
    assert_eq!(listed.len(), 2);
    assert_eq!(
        listed[0].name.to_string(),
        "org/ns/svc/00000000-0000-0000-0000-000000000004"
    );
    assert_eq!(
        t.display_name(k.with_id(InstanceId::ANY)).to_string(),
        "org/ns/svc"
    );
}
