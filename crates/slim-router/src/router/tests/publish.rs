//! Publish forwarding rules.

use super::*;
use ConnKind::*;

#[test]
fn unicast_reaches_exactly_the_subscribed_instance() {
    let mut h = Harness::new();
    for (conn, kind) in [(1, Edge), (2, Edge), (3, Edge), (9, Edge)] {
        h.add(conn, kind);
    }
    h.recv(1, sub("org/ns/svc/1", 11));
    h.recv(2, sub("org/ns/svc/2", 12));
    h.recv(3, sub("org/ns/svc", 13));
    for _ in 0..4 {
        assert_eq!(publishes(&h.recv(9, publish("org/ns/svc/1", 1))), [(1, 7)]);
        assert_eq!(publishes(&h.recv(9, publish("org/ns/svc/2", 1))), [(2, 7)]);
    }
}

#[test]
fn a_specific_id_never_falls_back_to_an_any_instance_subscription() {
    let mut h = Harness::new();
    h.add(1, Edge);
    h.add(9, Edge);
    h.recv(1, sub("org/ns/svc", 11));
    let out = h.recv(9, publish("org/ns/svc/5", 1));
    assert!(publishes(&out).is_empty());
    assert_eq!(drops(&out), [DropReason::NoRoute]);
    assert!(local_errors(&out).is_empty(), "edge senders are not told");
    // The any-instance subscription does receive anycast.
    assert_eq!(publishes(&h.recv(9, publish("org/ns/svc", 1))), [(1, 7)]);
}

#[test]
fn anycast_takes_turns_across_instances_and_connections() {
    let mut h = Harness::new();
    for conn in [1, 2, 3, 9] {
        h.add(conn, Edge);
    }
    h.recv(1, sub("org/ns/svc/1", 11));
    h.recv(2, sub("org/ns/svc/2", 12));
    h.recv(3, sub("org/ns/svc/3", 13));
    h.recv(3, sub("org/ns/other/3", 14));
    let mut counts = [0; 4];
    for _ in 0..30 {
        let out = h.recv(9, publish("org/ns/svc", 1));
        let [(to, _)] = publishes(&out)[..] else {
            panic!("exactly one output expected: {out:?}");
        };
        counts[to as usize] += 1;
    }
    assert_eq!(counts, [0, 10, 10, 10]);
}

#[test]
fn one_output_prefers_the_nearest_local_then_edge_then_peer_then_remote() {
    let mut h = Harness::new();
    h.add(1, Edge);
    h.add(2, Peer);
    h.add(3, Remote);
    h.add(4, Local);
    h.add(9, Edge);
    for conn in [1, 2, 3, 4] {
        h.recv(conn, sub(&format!("org/ns/svc/{conn}"), conn));
    }
    for expected in [4, 1, 2, 3] {
        for _ in 0..3 {
            assert_eq!(
                publishes(&h.recv(9, publish("org/ns/svc", 1))),
                [(expected, 7)]
            );
        }
        h.remove(expected);
    }
}

#[test]
fn broadcast_reaches_every_match_except_the_incoming_connection() {
    let mut h = Harness::new();
    for (conn, kind) in [(1, Edge), (2, Peer), (3, Local), (4, Edge)] {
        h.add(conn, kind);
        h.recv(conn, sub("org/ns/group/77", conn));
    }
    h.recv(4, sub("org/ns/group/78", 40));
    let mut to = targets(&h.recv(1, publish("org/ns/group/77", 256)));
    to.sort_unstable();
    assert_eq!(to, [2, 3, 4]);
    // Any-instance broadcast reaches each connection once even if it holds two instances.
    let mut to = targets(&h.recv(3, publish("org/ns/group", 256)));
    to.sort_unstable();
    assert_eq!(to, [1, 2, 4]);
}

#[test]
fn never_back_to_the_incoming_connection() {
    let mut h = Harness::new();
    h.add(1, Local);
    h.recv(1, sub("org/ns/me/1", 1));
    let out = h.recv(1, publish("org/ns/me/1", 1));
    assert!(publishes(&out).is_empty());
    assert_eq!(local_errors(&out), [(1, DropReason::NoRoute)]);
}

#[test]
fn ttl_is_decremented_from_other_processes_and_enforced() {
    let mut h = Harness::new();
    h.add(1, Edge);
    h.add(2, Local);
    h.add(3, Edge);
    h.recv(3, sub("org/ns/dst", 1));
    assert_eq!(publishes(&h.recv(1, publish("org/ns/dst", 1))), [(3, 7)]);
    let two = publish_with("org/ns/dst", 1, |hd| hd.ttl = 2);
    assert_eq!(publishes(&h.recv(1, two)), [(3, 1)]);
    let one = publish_with("org/ns/dst", 1, |hd| hd.ttl = 1);
    let out = h.recv(1, one);
    assert!(publishes(&out).is_empty());
    assert_eq!(drops(&out), [DropReason::TtlExpired]);
    // Local frames keep their TTL: the hop to another process has not happened yet.
    assert_eq!(publishes(&h.recv(2, publish("org/ns/dst", 1))), [(3, 8)]);
    let one = publish_with("org/ns/dst", 1, |hd| hd.ttl = 1);
    assert_eq!(publishes(&h.recv(2, one)), [(3, 1)]);
    assert_eq!(h.router.stats().dropped(DropReason::TtlExpired), 1);
}

#[test]
fn forward_to_is_honoured_only_from_local_connections() {
    let mut h = Harness::new();
    h.add(1, Local);
    h.add(2, Edge);
    h.add(3, Edge);
    h.recv(2, sub("org/ns/dst", 1));
    // From local: straight to the named connection, whatever the table says.
    let direct = publish_with("org/ns/dst", 1, |hd| hd.forward_to = Some(3));
    assert_eq!(publishes(&h.recv(1, direct)), [(3, 8)]);
    let nowhere = publish_with("org/ns/nobody", 1, |hd| hd.forward_to = Some(3));
    assert_eq!(publishes(&h.recv(1, nowhere)), [(3, 8)]);
    // From the network: the field is ignored and counted; the table decides.
    let steered = publish_with("org/ns/dst", 1, |hd| hd.forward_to = Some(1));
    assert_eq!(publishes(&h.recv(3, steered)), [(2, 7)]);
    assert_eq!(h.router.stats().ignored_local_fields, 1);
}

#[test]
fn forward_to_an_unknown_or_the_incoming_connection_is_reported_locally() {
    let mut h = Harness::new();
    h.add(1, Local);
    let unknown = publish_with("org/ns/dst", 1, |hd| hd.forward_to = Some(42));
    assert_eq!(
        local_errors(&h.recv(1, unknown)),
        [(1, DropReason::UnknownConnection)]
    );
    let itself = publish_with("org/ns/dst", 1, |hd| hd.forward_to = Some(1));
    assert_eq!(
        local_errors(&h.recv(1, itself)),
        [(1, DropReason::InvalidTarget)]
    );
}

#[test]
fn no_route_is_reported_only_to_local_senders() {
    let mut h = Harness::new();
    h.add(1, Local);
    h.add(2, Edge);
    let out = h.recv(1, publish("org/ns/nobody", 1));
    assert_eq!(local_errors(&out), [(1, DropReason::NoRoute)]);
    assert_eq!(drops(&out), [DropReason::NoRoute]);
    let out = h.recv(2, publish("org/ns/nobody", 256));
    assert!(local_errors(&out).is_empty());
    assert_eq!(drops(&out), [DropReason::NoRoute]);
    let stats = h.router.stats();
    assert_eq!(stats.dropped(DropReason::NoRoute), 2);
    assert_eq!(stats.local_errors, 1);
}

#[test]
fn full_mesh_does_not_forward_peer_publishes_to_peers() {
    for full_mesh in [false, true] {
        let mut h = Harness::with(RouterConfig {
            full_mesh,
            ..RouterConfig::default()
        });
        h.add(1, Peer);
        h.add(2, Peer);
        h.add(3, Edge);
        h.recv(2, sub("org/ns/far", 5));
        h.recv(2, sub("org/ns/both", 6));
        h.recv(3, sub("org/ns/both", 7));
        let out = h.recv(1, publish("org/ns/far", 1));
        if full_mesh {
            assert_eq!(drops(&out), [DropReason::NoRoute]);
        } else {
            assert_eq!(publishes(&out), [(2, 7)]);
        }
        let mut to = targets(&h.recv(1, publish("org/ns/both", 256)));
        to.sort_unstable();
        assert_eq!(to, if full_mesh { vec![3] } else { vec![2, 3] });
        // Publishes from an edge still go to peers.
        assert_eq!(publishes(&h.recv(3, publish("org/ns/far", 1))), [(2, 7)]);
    }
}

#[test]
fn link_frames_and_unknown_senders_are_dropped() {
    let mut h = Harness::new();
    h.add(1, Edge);
    let link = Frame::from_message(&builders::link_negotiation(proto::LinkNegotiationPayload {
        link_id: "x".into(),
        ..Default::default()
    }))
    .unwrap();
    assert_eq!(drops(&h.recv(1, link)), [DropReason::LinkFrame]);
    assert_eq!(
        drops(&h.recv(5, publish("org/ns/x", 1))),
        [DropReason::UnknownSender]
    );
}
