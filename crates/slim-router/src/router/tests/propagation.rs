//! Propagation of subscriptions between peers.

use super::*;
use ConnKind::*;

#[test]
fn first_and_last_non_peer_subscriber_are_announced_to_every_peer() {
    let mut h = Harness::new();
    h.add(1, Peer);
    h.add(2, Peer);
    h.add(3, Edge);
    h.add(4, Local);
    let out = h.recv(3, sub("org/ns/svc", 30));
    let announced = sent_of(&out, FrameKind::Subscribe);
    let [(1, id, 8), (2, id2, 8)] = announced[..] else {
        panic!("one subscribe per peer expected: {announced:?}");
    };
    assert_eq!(id, id2);
    assert_ne!(id, 30, "propagated under the router's own id");
    assert_ne!(id, 0);
    // More subscribers, and the departure of all but the last, change nothing for peers.
    assert!(sent_of(&h.recv(4, sub("org/ns/svc", 40)), FrameKind::Subscribe).is_empty());
    assert!(sent_of(&h.recv(3, sub("org/ns/svc", 31)), FrameKind::Subscribe).is_empty());
    assert!(sent_of(&h.recv(3, unsub("org/ns/svc", 30)), FrameKind::Unsubscribe).is_empty());
    assert!(sent_of(&h.recv(3, unsub("org/ns/svc", 31)), FrameKind::Unsubscribe).is_empty());
    // The last one withdraws the name under the same id.
    let out = h.recv(4, unsub("org/ns/svc", 40));
    assert_eq!(
        sent_of(&out, FrameKind::Unsubscribe),
        [(1, id, 8), (2, id, 8)]
    );
    assert_eq!(h.router.stats().propagated, 4);
}

#[test]
fn full_mesh_propagates_with_ttl_two() {
    let mut h = Harness::with(RouterConfig::full_mesh());
    h.add(1, Peer);
    h.add(3, Remote);
    let out = h.recv(3, sub("org/ns/svc", 30));
    assert!(matches!(
        sent_of(&out, FrameKind::Subscribe)[..],
        [(1, _, 2)]
    ));
}

#[test]
fn peer_subscriptions_are_relayed_while_ttl_allows_and_never_back() {
    let mut h = Harness::new();
    for peer in [1, 2, 3] {
        h.add(peer, Peer);
    }
    let out = h.recv(1, sub("org/ns/far", 60));
    assert_eq!(
        sent_of(&out, FrameKind::Subscribe),
        [(2, 60, 7), (3, 60, 7)]
    );
    assert_eq!(acks(&out), [(1, 60, true)]);
    // A peer route is not "reachable here" in its own right: no announcement under a new id.
    assert_eq!(h.router.stats().propagated, 0);
    // Remaining TTL 1 after this hop: installed, not relayed.
    let out = h.recv(1, sub_with("org/ns/near", 61, |hd| hd.ttl = 2));
    assert!(sent_of(&out, FrameKind::Subscribe).is_empty());
    assert_eq!(targets(&h.recv(2, publish("org/ns/near", 1))), [1]);
    // Unsubscribes follow the same way, with the TTL the subscribe was relayed with.
    let out = h.recv(1, unsub("org/ns/far", 60));
    assert_eq!(
        sent_of(&out, FrameKind::Unsubscribe),
        [(2, 60, 7), (3, 60, 7)]
    );
    assert_eq!(h.router.relayed_subscriptions(), 0);
}

#[test]
fn the_routers_own_subscription_coming_back_is_a_loop() {
    let mut h = Harness::new();
    h.add(1, Peer);
    h.add(2, Peer);
    h.add(3, Edge);
    let out = h.recv(3, sub("org/ns/svc", 30));
    let own = sent_of(&out, FrameKind::Subscribe)[0].1;
    let echoed = sub_with("org/ns/svc", own, |hd| hd.ttl = 6);
    let out = h.recv(2, echoed);
    assert_eq!(drops(&out), [DropReason::DuplicateSubscription]);
    assert_eq!(
        h.router.routes().len(),
        1,
        "no peer route back to ourselves"
    );
}

#[test]
fn a_connecting_peer_gets_every_reachable_name_and_relayed_subscription() {
    let mut h = Harness::new();
    h.add(1, Edge);
    h.add(2, Peer);
    h.recv(1, sub("org/ns/a", 10));
    h.recv(1, sub("org/ns/b", 11));
    h.recv(2, sub("org/ns/from-peer", 12));
    h.recv(2, sub_with("org/ns/not-relayed", 13, |hd| hd.ttl = 2));
    let out = h.add(3, Peer);
    let mut synced: Vec<_> = sent_of(&out, FrameKind::Subscribe)
        .into_iter()
        .map(|(to, id, ttl)| {
            assert_eq!(to, 3);
            (id, ttl)
        })
        .collect();
    synced.sort_unstable();
    assert_eq!(synced.len(), 3);
    assert!(
        synced.contains(&(12, 7)),
        "relayed with its TTL: {synced:?}"
    );
    assert_eq!(synced.iter().filter(|(_, ttl)| *ttl == 8).count(), 2);
    // The peer a relay came from does not get it back in its own sync.
    h.remove(2);
    let out = h.add(2, Peer);
    assert_eq!(sent_of(&out, FrameKind::Subscribe).len(), 2);
}

#[test]
fn a_peer_unsubscribe_releases_the_subscription_whichever_peer_brought_it() {
    // Copies of one subscription can arrive over two peers when the first one's link drops
    // in between; the unsubscribe may then come over either.
    let mut h = Harness::new();
    h.add(1, Peer);
    h.add(2, Peer);
    h.add(9, Edge);
    h.recv(1, sub_with("org/ns/x", 70, |hd| hd.ttl = 2));
    let out = h.recv(2, unsub_with("org/ns/x", 70, |hd| hd.ttl = 2));
    assert_eq!(acks(&out), [(2, 70, true)]);
    assert!(targets(&h.recv(9, publish("org/ns/x", 1))).is_empty());
}
