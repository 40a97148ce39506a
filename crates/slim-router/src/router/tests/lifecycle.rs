//! Connections coming and going.

use super::*;
use ConnKind::*;

#[test]
fn removing_a_connection_withdraws_only_names_that_became_unreachable() {
    let mut h = Harness::new();
    h.add(1, Peer);
    h.add(2, Edge);
    h.add(3, Edge);
    h.recv(2, sub("org/ns/only2", 20));
    h.recv(2, sub("org/ns/shared", 21));
    h.recv(3, sub("org/ns/shared", 31));
    let out = h.remove(2);
    let withdrawn = sent_of(&out, FrameKind::Unsubscribe);
    assert_eq!(withdrawn.len(), 1, "{withdrawn:?}");
    assert_eq!(withdrawn[0].0, 1);
    let names: Vec<String> = h
        .router
        .routes()
        .iter()
        .map(|r| r.name.to_string())
        .collect();
    assert_eq!(names, ["org/ns/shared"]);
    assert_eq!(h.router.stats().connections, 2);
}

#[test]
fn removing_a_peer_withdraws_what_was_relayed_for_it() {
    let mut h = Harness::new();
    h.add(1, Peer);
    h.add(2, Peer);
    h.recv(1, sub("org/ns/far", 60));
    let out = h.remove(1);
    assert_eq!(sent_of(&out, FrameKind::Unsubscribe), [(2, 60, 7)]);
    assert_eq!(h.router.relayed_subscriptions(), 0);
    // When it comes back and resyncs under the same id, that is accepted and relayed again.
    h.add(1, Peer);
    let out = h.recv(1, sub("org/ns/far", 60));
    assert_eq!(sent_of(&out, FrameKind::Subscribe), [(2, 60, 7)]);
}

#[test]
fn a_peer_resync_on_a_new_connection_id_is_accepted() {
    let mut h = Harness::with(RouterConfig::full_mesh());
    h.add(1, Peer);
    h.add(9, Edge);
    h.recv(1, sub_with("org/ns/far", 60, |hd| hd.ttl = 2));
    h.remove(1);
    h.add(5, Peer);
    let out = h.recv(5, sub_with("org/ns/far", 60, |hd| hd.ttl = 2));
    assert!(drops(&out).is_empty());
    assert_eq!(targets(&h.recv(9, publish("org/ns/far", 1))), [5]);
}

#[test]
fn pending_acks_on_a_closed_connection_fail_and_the_subscription_is_replayed() {
    let mut h = Harness::new();
    h.add(1, Local);
    h.add(2, Edge);
    h.recv(1, sub_with("org/ns/me/1", 9, |hd| hd.forward_to = Some(2)));
    assert_eq!(acks(&h.remove(2)), [(1, 9, false)]);
    assert_eq!(h.router.poll_timeout(), None);
    // The link comes back under the same id: the subscription is sent again, and its answer is
    // absorbed (the requester already had one).
    let out = h.add(2, Edge);
    assert_eq!(sent_of(&out, FrameKind::Subscribe), [(2, 9, 8)]);
    assert!(h.recv(2, ack_frame(9, None)).is_empty());
}

#[test]
fn routes_set_through_a_connection_come_back_with_it() {
    let mut h = Harness::new();
    h.add(1, Local);
    h.add(2, Edge);
    h.add(3, Peer);
    h.recv(1, sub_with("org/ns/far", 5, |hd| hd.recv_from = Some(2)));
    let out = h.remove(2);
    assert_eq!(sent_of(&out, FrameKind::Unsubscribe).len(), 1, "peer told");
    assert!(targets(&h.recv(1, publish("org/ns/far", 1))).is_empty());
    let out = h.add(2, Edge);
    assert_eq!(
        sent_of(&out, FrameKind::Subscribe).len(),
        1,
        "peer told again"
    );
    assert_eq!(targets(&h.recv(1, publish("org/ns/far", 1))), [2]);
}

#[test]
fn a_departing_local_connection_undoes_its_requests() {
    let mut h = Harness::new();
    h.add(1, Local);
    h.add(2, Edge);
    h.add(3, Edge);
    h.recv(1, sub_with("org/ns/me/1", 9, |hd| hd.forward_to = Some(2)));
    h.recv(2, ack_frame(9, None));
    h.recv(1, sub_with("org/ns/far", 10, |hd| hd.recv_from = Some(3)));
    let out = h.remove(1);
    assert_eq!(sent_of(&out, FrameKind::Unsubscribe), [(2, 9, 8)]);
    assert_eq!(h.router.stats().routes, 0);
    assert_eq!(h.router.remembered_requests(), 0);
    // The downstream answer to that unsubscribe is absorbed.
    assert!(h.recv(2, ack_frame(9, None)).is_empty());
}

#[test]
fn re_adding_a_connected_id_starts_it_afresh() {
    let mut h = Harness::new();
    h.add(1, Edge);
    h.recv(1, sub("org/ns/a", 1));
    h.add(1, Local);
    assert_eq!(h.router.stats().routes, 0);
    assert_eq!(h.router.connection_kind(ConnId(1)), Some(Local));
}

#[test]
fn listings_show_connections_and_routes_with_names() {
    let mut h = Harness::new();
    h.add(2, Edge);
    h.add(1, Peer);
    h.recv(2, sub("org/ns/b/7", 1));
    h.recv(2, sub("org/ns/a", 2));
    h.recv(2, sub("org/ns/a", 3));
    let connections = h.router.connections();
    assert_eq!(connections.len(), 2);
    assert_eq!(
        (connections[0].conn, connections[0].kind),
        (ConnId(1), Peer)
    );
    assert_eq!(
        (connections[1].routes, connections[1].subscriptions),
        (2, 3)
    );
    let routes = h.router.routes_of(ConnId(2));
    let listed: Vec<(String, Vec<u64>)> = routes
        .iter()
        .map(|r| (r.name.to_string(), r.subscription_ids.clone()))
        .collect();
    assert!(listed.contains(&("org/ns/a".to_owned(), vec![2, 3])));
    assert!(listed.contains(&(
        "org/ns/b/00000000-0000-0000-0000-000000000007".to_owned(),
        vec![1]
    )));
}
