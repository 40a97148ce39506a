//! Several routers wired into chains and triangles by an in-memory network (see `common`),
//! with clients as edge connections: subscriptions propagate, publishes reach exactly the right
//! subscribers, unsubscribes stop delivery, and links that drop and come back restore routes.
//! Every scenario also runs with deliveries interleaved randomly across links (seeded).

// Test code: a failed unwrap is a failed test (see clippy.toml).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::Net;
use slim_router::{ConnKind, RouterConfig};
use slim_wire::{Frame, Name, builders};

const MAX_STEPS: u64 = 100_000;
const SEEDS: [Option<u64>; 6] = [None, Some(1), Some(2), Some(3), Some(4), Some(5)];

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Names of one message per index: "tag-0", "tag-1", ...
fn numbered(tag: &str, n: usize) -> Vec<String> {
    sorted((0..n).map(|i| format!("{tag}-{i}")).collect())
}

/// A chain A–B–C (standalone mode: nodes relay subscriptions and publishes).
fn chain(seed: Option<u64>) -> Net {
    let mut net = Net::new(3, RouterConfig::default(), seed);
    net.link(0, 1);
    net.link(1, 2);
    net
}

/// A triangle A–B–C in full-mesh mode.
fn triangle(seed: Option<u64>) -> Net {
    let mut net = Net::new(3, RouterConfig::full_mesh(), seed);
    net.link(0, 1);
    net.link(1, 2);
    net.link(0, 2);
    net
}

/// The scenario both topologies must pass. `anycast_reaches` says which of the three instances
/// anycast from node 2 can pick: one-output routing prefers the nearest instance (order Local,
/// Edge, Peer, Remote), so in the chain node 1 serves everything with its own edge instance and
/// node 0's instances get none, while in the triangle node 2 alternates between its two peers.
fn routes_everything_exactly_once(mut net: Net, anycast_reaches: [bool; 3]) {
    // Two instances of a service on node 0, one on node 1; a publisher on node 2.
    let a1 = net.client(0, ConnKind::Edge);
    let a2 = net.client(0, ConnKind::Edge);
    let b1 = net.client(1, ConnKind::Edge);
    let publisher = net.client(2, ConnKind::Edge);
    net.subscribe(a1, "org/ns/svc/1");
    net.subscribe(a2, "org/ns/svc/2");
    let b1_sub = net.subscribe(b1, "org/ns/svc/3");
    for client in [a1, a2, b1] {
        net.subscribe(client, "org/ns/group/9");
    }
    net.settle(MAX_STEPS);
    for client in [a1, a2, b1] {
        let acks = &net.clients[client].acks;
        assert!(
            acks.len() == 2 && acks.iter().all(|(_, ok)| *ok),
            "{acks:?}"
        );
    }

    // Unicast: exactly the addressed instance, once per message.
    for i in 0..10 {
        net.publish(publisher, "org/ns/svc/2", 1, &format!("uni-{i}"));
    }
    net.settle(MAX_STEPS);
    assert_eq!(sorted(net.take(a2)), numbered("uni", 10));
    assert!(net.take(a1).is_empty() && net.take(b1).is_empty());

    // Anycast: every message to exactly one instance, spread over all of them.
    for i in 0..30 {
        net.publish(publisher, "org/ns/svc", 1, &format!("any-{i}"));
    }
    net.settle(MAX_STEPS);
    let got: Vec<Vec<String>> = [a1, a2, b1].iter().map(|&c| net.take(c)).collect();
    assert_eq!(
        sorted(got.concat()),
        numbered("any", 30),
        "each exactly once"
    );
    let reached = [0, 1, 2].map(|i| !got[i].is_empty());
    assert_eq!(reached, anycast_reaches, "spread: {got:?}");
    assert!(
        got[0].len().abs_diff(got[1].len()) <= 1,
        "turns on node 0: {got:?}"
    );

    // Broadcast: every subscriber, exactly once.
    for i in 0..5 {
        net.publish(publisher, "org/ns/group/9", 256, &format!("all-{i}"));
    }
    net.settle(MAX_STEPS);
    for client in [a1, a2, b1] {
        assert_eq!(sorted(net.take(client)), numbered("all", 5));
    }

    // Unsubscribe stops delivery, everywhere.
    net.unsubscribe(b1, "org/ns/svc/3", b1_sub);
    net.settle(MAX_STEPS);
    for i in 0..10 {
        net.publish(publisher, "org/ns/svc/3", 1, &format!("gone-{i}"));
        net.publish(publisher, "org/ns/svc", 1, &format!("left-{i}"));
    }
    net.settle(MAX_STEPS);
    assert!(net.take(b1).is_empty());
    let left = [net.take(a1), net.take(a2)].concat();
    assert_eq!(sorted(left), numbered("left", 10));
}

#[test]
fn chain_routes_unicast_anycast_and_broadcast_exactly_once() {
    for seed in SEEDS {
        routes_everything_exactly_once(chain(seed), [false, false, true]);
    }
}

#[test]
fn full_mesh_triangle_routes_unicast_anycast_and_broadcast_exactly_once() {
    for seed in SEEDS {
        routes_everything_exactly_once(triangle(seed), [true, true, true]);
    }
}

#[test]
fn a_dropped_link_loses_routes_and_restoring_it_brings_them_back() {
    for seed in SEEDS {
        for full_mesh in [false, true] {
            let mut net = if full_mesh {
                triangle(seed)
            } else {
                chain(seed)
            };
            let far = net.client(0, ConnKind::Edge);
            let publisher = net.client(2, ConnKind::Edge);
            net.subscribe(far, "org/ns/far/1");
            net.settle(MAX_STEPS);
            // The link on the path (B–C in the chain, A–C in the mesh: the 1-hop rule keeps
            // traffic off the detour through B).
            let (x, y) = if full_mesh { (0, 2) } else { (1, 2) };
            net.cut(x, y);
            net.settle(MAX_STEPS);
            net.publish(publisher, "org/ns/far/1", 1, "lost");
            net.settle(MAX_STEPS);
            assert!(net.take(far).is_empty());
            net.restore(x, y);
            net.settle(MAX_STEPS);
            net.publish(publisher, "org/ns/far/1", 1, "back");
            net.settle(MAX_STEPS);
            assert_eq!(
                net.take(far),
                ["back"],
                "seed {seed:?}, full mesh {full_mesh}"
            );
        }
    }
}

#[test]
fn cutting_the_first_hop_of_a_chain_withdraws_relayed_routes_downstream() {
    let mut net = chain(None);
    let far = net.client(0, ConnKind::Edge);
    net.subscribe(far, "org/ns/far/1");
    net.settle(MAX_STEPS);
    assert_eq!(net.nodes[2].routes().len(), 1);
    net.cut(0, 1);
    net.settle(MAX_STEPS);
    assert!(
        net.nodes[2].routes().is_empty(),
        "C forgot the name B can no longer reach"
    );
    net.restore(0, 1);
    net.settle(MAX_STEPS);
    assert_eq!(net.nodes[2].routes().len(), 1);
}

#[test]
fn restarting_the_middle_node_restores_routes_without_client_action() {
    for seed in SEEDS {
        let mut net = chain(seed);
        let far = net.client(0, ConnKind::Edge);
        let publisher = net.client(2, ConnKind::Edge);
        net.subscribe(far, "org/ns/far/1");
        net.settle(MAX_STEPS);
        net.restart(1, RouterConfig::default(), 77);
        net.settle(MAX_STEPS);
        net.publish(publisher, "org/ns/far/1", 1, "after restart");
        net.settle(MAX_STEPS);
        assert_eq!(net.take(far), ["after restart"], "seed {seed:?}");
    }
}

#[test]
fn subscriptions_in_a_standalone_cycle_settle_and_unicast_arrives_once() {
    // A ring without the 1-hop rule: loop prevention by id and the TTL must stop propagation,
    // and fanout-1 traffic must not circle.
    for seed in SEEDS {
        let mut net = Net::new(4, RouterConfig::default(), seed);
        net.link(0, 1);
        net.link(1, 2);
        net.link(2, 3);
        net.link(3, 0);
        let target = net.client(0, ConnKind::Edge);
        let publisher = net.client(2, ConnKind::Edge);
        let id = net.subscribe(target, "org/ns/ring/1");
        net.settle(MAX_STEPS);
        for node in 1..4 {
            assert_eq!(
                net.nodes[node].routes().len(),
                1,
                "node {node}, seed {seed:?}"
            );
        }
        for i in 0..20 {
            net.publish(publisher, "org/ns/ring/1", 1, &format!("r-{i}"));
            net.publish(publisher, "org/ns/ring", 1, &format!("a-{i}"));
        }
        net.settle(MAX_STEPS);
        let mut expected = numbered("r", 20);
        expected.extend(numbered("a", 20));
        assert_eq!(sorted(net.take(target)), sorted(expected));
        net.unsubscribe(target, "org/ns/ring/1", id);
        net.settle(MAX_STEPS);
        for node in 0..4 {
            assert!(
                net.nodes[node].routes().is_empty(),
                "node {node}, seed {seed:?}"
            );
        }
    }
}

/// An application's subscribe on its own embedded router, sent upstream with `forward_to`
/// (or installed as a route through the link with `recv_from`).
fn app_request(
    to: &str,
    id: u64,
    subscribe: bool,
    forward_to: Option<u64>,
    recv_from: Option<u64>,
) -> Frame {
    let name: Name = to.parse().unwrap();
    let mut message = if subscribe {
        builders::subscribe(&name, &name, id)
    } else {
        builders::unsubscribe(&name, &name, id)
    };
    use slim_wire::proto::message::MessageType;
    let header = match message.message_type.as_mut().unwrap() {
        MessageType::Subscribe(s) => s.header.as_mut().unwrap(),
        MessageType::Unsubscribe(u) => u.header.as_mut().unwrap(),
        _ => unreachable!(),
    };
    header.forward_to = forward_to;
    header.recv_from = recv_from;
    Frame::from_message(&message).unwrap()
}

#[test]
fn an_embedded_router_subscribes_upstream_and_survives_its_link_flapping() {
    for seed in SEEDS {
        // Node 0: an application's embedded router with the app as a local connection.
        // Node 1: the server node, which sees that link as an edge.
        let mut net = Net::new(2, RouterConfig::default(), seed);
        let (uplink, _) = net.link_as(0, ConnKind::Edge, 1, ConnKind::Edge);
        let app = net.client(0, ConnKind::Local);
        let server_app = net.client(1, ConnKind::Edge);
        net.subscribe(server_app, "org/ns/server/5");

        // "subscribe(me, uplink)": installed locally and upstream; acked once upstream acked.
        net.send(
            app,
            app_request("org/ns/app/1", 41, true, Some(uplink.0), None),
        );
        assert!(
            net.clients[app].acks.is_empty(),
            "ack waits for the server node"
        );
        // "set_route(server, uplink)": the server's names go out on the uplink.
        net.send(
            app,
            app_request("org/ns/server", 42, true, None, Some(uplink.0)),
        );
        net.settle(MAX_STEPS);
        assert_eq!(net.clients[app].acks, [(42, true), (41, true)]);

        let round_trip = |net: &mut Net, tag: &str| {
            net.publish(server_app, "org/ns/app/1", 1, &format!("{tag}-down"));
            net.publish(app, "org/ns/server", 1, &format!("{tag}-up"));
            net.settle(MAX_STEPS);
            (net.take(app), net.take(server_app))
        };
        assert_eq!(
            round_trip(&mut net, "a"),
            (vec!["a-down".into()], vec!["a-up".into()])
        );

        // The link drops: nothing gets through. It comes back: the subscription is replayed
        // and the route restored, with no action from the application.
        net.cut(0, 1);
        assert_eq!(round_trip(&mut net, "b"), (vec![], vec![]));
        net.restore(0, 1);
        net.settle(MAX_STEPS);
        assert_eq!(
            round_trip(&mut net, "c"),
            (vec!["c-down".into()], vec!["c-up".into()])
        );
        assert_eq!(
            net.clients[app].acks.len(),
            2,
            "replays are not re-acknowledged"
        );

        // Unsubscribing upstream stops delivery at the server node.
        net.send(
            app,
            app_request("org/ns/app/1", 41, false, Some(uplink.0), None),
        );
        net.settle(MAX_STEPS);
        assert_eq!(net.clients[app].acks.last(), Some(&(41, true)));
        assert!(
            net.nodes[1]
                .routes()
                .iter()
                .all(|r| r.name.to_string() != "org/ns/app/00000000-0000-0000-0000-000000000001")
        );
        net.publish(server_app, "org/ns/app/1", 1, "d-down");
        net.settle(MAX_STEPS);
        assert!(net.take(app).is_empty());
        // Nothing left waiting on timers.
        net.advance(Duration::from_secs(60));
        net.settle(MAX_STEPS);
        assert!(net.nodes[0].poll_timeout().is_none());
    }
}
