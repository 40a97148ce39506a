//! Subscribe/unsubscribe: reference counting, acks, local fields, limits, loops.

use super::*;
use ConnKind::*;

fn routed_to(h: &mut Harness, from: u64, to: &str) -> Vec<u64> {
    targets(&h.recv(from, publish(to, 1)))
}

#[test]
fn routes_are_reference_counted_by_subscription_id() {
    let mut h = Harness::new();
    h.add(1, Edge);
    h.add(9, Edge);
    h.recv(1, sub("org/ns/svc", 10));
    h.recv(1, sub("org/ns/svc", 11));
    assert_eq!(h.router.stats().routes, 1);
    assert_eq!(h.router.stats().subscriptions, 2);
    assert_eq!(acks(&h.recv(1, unsub("org/ns/svc", 10))), [(1, 10, true)]);
    assert_eq!(
        routed_to(&mut h, 9, "org/ns/svc"),
        [1],
        "id 11 still holds the route"
    );
    assert_eq!(acks(&h.recv(1, unsub("org/ns/svc", 11))), [(1, 11, true)]);
    assert!(routed_to(&mut h, 9, "org/ns/svc").is_empty());
    // Nothing left to release: a negative ack.
    let out = h.recv(1, unsub("org/ns/svc", 11));
    assert_eq!(acks(&out), [(1, 11, false)]);
    assert_eq!(drops(&out), [DropReason::NotSubscribed]);
}

#[test]
fn an_unsubscribe_under_a_fresh_id_releases_one_reference() {
    let mut h = Harness::new();
    h.add(1, Edge);
    h.add(9, Edge);
    h.recv(1, sub("org/ns/svc", 10));
    h.recv(1, sub("org/ns/svc", 11));
    h.recv(1, unsub("org/ns/svc", 500));
    assert_eq!(routed_to(&mut h, 9, "org/ns/svc"), [1]);
    h.recv(1, unsub("org/ns/svc", 501));
    assert!(routed_to(&mut h, 9, "org/ns/svc").is_empty());
}

#[test]
fn a_repeated_subscribe_from_the_same_connection_is_idempotent() {
    let mut h = Harness::new();
    h.add(1, Edge);
    assert_eq!(acks(&h.recv(1, sub("org/ns/svc", 10))), [(1, 10, true)]);
    assert_eq!(acks(&h.recv(1, sub("org/ns/svc", 10))), [(1, 10, true)]);
    assert_eq!(h.router.stats().subscriptions, 1);
    h.recv(1, unsub("org/ns/svc", 10));
    assert_eq!(h.router.stats().routes, 0);
}

#[test]
fn acks_are_sent_only_for_non_zero_ids() {
    let mut h = Harness::new();
    h.add(1, Edge);
    assert!(h.recv(1, sub("org/ns/svc", 0)).is_empty());
    assert!(h.recv(1, unsub("org/ns/svc", 0)).is_empty());
    assert_eq!(h.router.stats().routes, 0);
}

#[test]
fn recv_from_sets_a_route_through_another_connection_only_from_local() {
    let mut h = Harness::new();
    h.add(1, Local);
    h.add(2, Edge);
    h.add(3, Edge);
    let set_route = sub_with("org/ns/far", 5, |hd| hd.recv_from = Some(2));
    assert_eq!(acks(&h.recv(1, set_route)), [(1, 5, true)]);
    assert_eq!(routed_to(&mut h, 1, "org/ns/far"), [2]);
    let routes = h.router.routes();
    assert_eq!((routes[0].conn, routes[0].kind), (ConnId(2), Edge));
    // The same field from the network is ignored: the route goes through the sender.
    let steered = sub_with("org/ns/mine", 6, |hd| hd.recv_from = Some(2));
    h.recv(3, steered);
    assert_eq!(routed_to(&mut h, 1, "org/ns/mine"), [3]);
    assert_eq!(h.router.stats().ignored_local_fields, 1);
    // And a local connection removes the route the same way it set it.
    let remove_route = unsub_with("org/ns/far", 5, |hd| hd.recv_from = Some(2));
    assert_eq!(acks(&h.recv(1, remove_route)), [(1, 5, true)]);
    assert!(routed_to(&mut h, 1, "org/ns/far").is_empty());
}

#[test]
fn recv_from_or_forward_to_naming_an_unusable_connection_is_refused() {
    let mut h = Harness::new();
    h.add(1, Local);
    h.add(2, Local);
    let cases = [
        (
            sub_with("org/ns/a", 1, |hd| hd.recv_from = Some(42)),
            DropReason::UnknownConnection,
        ),
        (
            sub_with("org/ns/a", 2, |hd| hd.recv_from = Some(2)),
            DropReason::InvalidTarget,
        ),
        (
            sub_with("org/ns/a", 3, |hd| hd.forward_to = Some(1)),
            DropReason::InvalidTarget,
        ),
        (
            sub_with("org/ns/a", 4, |hd| hd.forward_to = Some(42)),
            DropReason::UnknownConnection,
        ),
    ];
    for (i, (frame, reason)) in cases.into_iter().enumerate() {
        let out = h.recv(1, frame);
        assert_eq!(acks(&out), [(1, i as u64 + 1, false)]);
        assert_eq!(drops(&out), [reason]);
    }
    assert_eq!(h.router.stats().routes, 0);
}

#[test]
fn forward_to_installs_locally_forwards_and_defers_the_ack() {
    let mut h = Harness::new();
    h.add(1, Local);
    h.add(2, Edge);
    h.add(3, Edge);
    let upstream = sub_with("org/ns/me/1", 77, |hd| hd.forward_to = Some(2));
    let out = h.recv(1, upstream);
    assert_eq!(sent_of(&out, FrameKind::Subscribe), [(2, 77, 8)]);
    assert!(
        acks(&out).is_empty(),
        "the ack waits for the downstream one"
    );
    assert_eq!(routed_to(&mut h, 3, "org/ns/me/1"), [1]);
    assert_eq!(
        h.router.poll_timeout(),
        Some(h.now + Duration::from_secs(5))
    );
    // The downstream answer is passed back, and nothing is pending any more.
    assert_eq!(acks(&h.recv(2, ack_frame(77, None))), [(1, 77, true)]);
    assert_eq!(h.router.poll_timeout(), None);
    assert_eq!(h.router.remembered_requests(), 1);
    // Unsubscribing goes the same way.
    let out = h.recv(
        1,
        unsub_with("org/ns/me/1", 77, |hd| hd.forward_to = Some(2)),
    );
    assert_eq!(sent_of(&out, FrameKind::Unsubscribe), [(2, 77, 8)]);
    assert!(acks(&out).is_empty());
    assert_eq!(acks(&h.recv(2, ack_frame(77, None))), [(1, 77, true)]);
    assert_eq!(h.router.remembered_requests(), 0);
    assert!(routed_to(&mut h, 3, "org/ns/me/1").is_empty());
}

#[test]
fn forward_to_is_resent_on_timeout_then_fails_the_request() {
    let mut h = Harness::new();
    h.add(1, Local);
    h.add(2, Edge);
    h.recv(1, sub_with("org/ns/me", 9, |hd| hd.forward_to = Some(2)));
    for retry in 1..=3 {
        assert!(h.advance(Duration::from_millis(4_999)).is_empty());
        let out = h.advance(Duration::from_millis(1));
        assert_eq!(
            sent_of(&out, FrameKind::Subscribe),
            [(2, 9, 8)],
            "retry {retry}"
        );
        assert!(acks(&out).is_empty());
    }
    let out = h.advance(Duration::from_secs(5));
    assert_eq!(acks(&out), [(1, 9, false)]);
    assert!(sent_of(&out, FrameKind::Subscribe).is_empty());
    let stats = h.router.stats();
    assert_eq!(
        (stats.ack_retries, stats.ack_timeouts, stats.pending_acks),
        (3, 1, 0)
    );
    assert_eq!(h.router.poll_timeout(), None);
    // A late answer matches nothing.
    assert_eq!(
        drops(&h.recv(2, ack_frame(9, None))),
        [DropReason::UnexpectedAck]
    );
}

#[test]
fn a_negative_downstream_ack_is_passed_back_and_not_replayed() {
    let mut h = Harness::new();
    h.add(1, Local);
    h.add(2, Edge);
    h.recv(1, sub_with("org/ns/me", 9, |hd| hd.forward_to = Some(2)));
    assert_eq!(
        acks(&h.recv(2, ack_frame(9, Some("denied")))),
        [(1, 9, false)]
    );
    assert_eq!(h.router.remembered_requests(), 0);
}

#[test]
fn forward_to_from_the_network_is_ignored() {
    let mut h = Harness::new();
    h.add(1, Edge);
    h.add(2, Edge);
    let out = h.recv(1, sub_with("org/ns/me", 9, |hd| hd.forward_to = Some(2)));
    assert_eq!(targets(&out), [1], "only the ack, on the sender");
    assert_eq!(acks(&out), [(1, 9, true)]);
    assert_eq!(h.router.stats().ignored_local_fields, 1);
}

#[test]
fn the_per_connection_subscription_limit_is_enforced() {
    let mut h = Harness::with(RouterConfig {
        max_subscriptions_per_connection: 2,
        ..RouterConfig::default()
    });
    h.add(1, Edge);
    h.recv(1, sub("org/ns/a", 1));
    h.recv(1, sub("org/ns/b", 2));
    let out = h.recv(1, sub("org/ns/c", 3));
    assert_eq!(acks(&out), [(1, 3, false)]);
    assert_eq!(drops(&out), [DropReason::SubscriptionLimit]);
    // Repeating a held subscription is still fine, and releasing one makes room.
    assert_eq!(acks(&h.recv(1, sub("org/ns/a", 1))), [(1, 1, true)]);
    h.recv(1, unsub("org/ns/a", 1));
    assert_eq!(acks(&h.recv(1, sub("org/ns/c", 3))), [(1, 3, true)]);
}

#[test]
fn an_expired_subscription_gets_a_negative_ack() {
    let mut h = Harness::new();
    h.add(1, Peer);
    let out = h.recv(1, sub_with("org/ns/a", 4, |hd| hd.ttl = 1));
    assert_eq!(acks(&out), [(1, 4, false)]);
    assert_eq!(drops(&out), [DropReason::TtlExpired]);
    assert_eq!(h.router.stats().routes, 0);
}

#[test]
fn a_subscription_id_seen_over_another_node_link_is_a_loop() {
    let mut h = Harness::new();
    h.add(1, Peer);
    h.add(2, Peer);
    h.add(3, Remote);
    h.recv(1, sub("org/ns/a", 50));
    for copy_from in [2, 3] {
        let out = h.recv(copy_from, sub("org/ns/a", 50));
        assert_eq!(acks(&out), [(copy_from, 50, true)]);
        assert_eq!(drops(&out), [DropReason::DuplicateSubscription]);
        assert!(
            sent_of(&out, FrameKind::Subscribe).is_empty(),
            "not relayed again"
        );
    }
    let routes = h.router.routes();
    assert_eq!(routes.len(), 1);
    assert_eq!(routes[0].conn, ConnId(1));
    // The unsubscribe gets through once, its copies are loops too.
    h.recv(1, unsub("org/ns/a", 50));
    assert_eq!(
        drops(&h.recv(2, unsub("org/ns/a", 50))),
        [DropReason::DuplicateSubscription]
    );
    assert_eq!(h.router.stats().routes, 0);
    // A later subscription under the same id is new again.
    h.recv(2, sub("org/ns/a", 50));
    assert_eq!(h.router.routes()[0].conn, ConnId(2));
}

#[test]
fn applications_may_repeat_an_id_on_a_new_connection() {
    // A client that reconnects replays its subscriptions under their old ids; that is not a
    // loop, even while the old connection is not yet known to be dead.
    let mut h = Harness::new();
    h.add(1, Edge);
    h.add(2, Edge);
    h.add(9, Edge);
    h.recv(1, sub("org/ns/me/1", 50));
    assert_eq!(acks(&h.recv(2, sub("org/ns/me/1", 50))), [(2, 50, true)]);
    h.remove(1);
    assert_eq!(routed_to(&mut h, 9, "org/ns/me/1"), [2]);
}

#[test]
fn acks_from_peers_are_counted_and_stray_acks_dropped() {
    let mut h = Harness::new();
    h.add(1, Peer);
    h.add(2, Edge);
    assert!(h.recv(1, ack_frame(5, None)).is_empty());
    assert!(h.recv(1, ack_frame(6, Some("no"))).is_empty());
    assert_eq!(
        drops(&h.recv(2, ack_frame(7, None))),
        [DropReason::UnexpectedAck]
    );
    let stats = h.router.stats();
    assert_eq!((stats.peer_acks_ok, stats.peer_acks_failed), (1, 1));
}
