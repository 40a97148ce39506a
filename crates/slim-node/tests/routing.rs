//! Three real nodes in a chain and in a full-mesh triangle, applications on different nodes:
//! unicast reaches exactly one instance, anycast spreads round-robin, broadcast reaches all,
//! unsubscribe stops delivery.

mod common;

use common::*;
use slim_testkit::clients::{connect, name, publish_until_delivered};
use slim_testkit::{NodeProcess, NodeSpec};

/// a <- b -> c: b (the middle) is dialed by both ends.
fn chain() -> (NodeProcess, NodeProcess, NodeProcess) {
    let b = start(NodeSpec::new("b"));
    let a = start(NodeSpec::new("a").link_to(b.endpoint()));
    let c = start(NodeSpec::new("c").link_to(b.endpoint()));
    (a, b, c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_unicast_anycast_broadcast_and_unsubscribe() {
    let (a, b, c) = chain();
    let svc = |id| name("svc", id);

    // Two instances of one service at the far end, a publisher at the other end.
    let (one, mut one_inbox) = connect(a.endpoint(), &svc(Some(1))).await.unwrap();
    let (two, mut two_inbox) = connect(a.endpoint(), &svc(Some(2))).await.unwrap();
    subscribe(&one, &svc(Some(1))).await;
    subscribe(&two, &svc(Some(2))).await;
    let (publisher, _) = connect(c.endpoint(), &name("publisher", Some(9)))
        .await
        .unwrap();

    // Unicast reaches exactly the addressed instance (probing until the routes propagated).
    publish_until_delivered(&publisher, &svc(Some(1)), 1, &mut one_inbox, "probe1")
        .await
        .unwrap();
    publish_until_delivered(&publisher, &svc(Some(2)), 1, &mut two_inbox, "probe2")
        .await
        .unwrap();
    collect(&mut one_inbox, "").await;
    collect(&mut two_inbox, "").await;
    publish_n(&publisher, &svc(Some(1)), 1, "uni", 10).await;
    assert_eq!(expect_n(&mut one_inbox, "uni", 10).await.len(), 10);
    assert!(collect(&mut two_inbox, "uni").await.is_empty());
    assert!(
        collect(&mut one_inbox, "uni").await.is_empty(),
        "duplicates"
    );

    // Anycast (any instance, fanout 1): each message to one instance, alternating.
    publish_n(&publisher, &svc(None), 1, "any", 20).await;
    let first = collect(&mut one_inbox, "any").await;
    let second = collect(&mut two_inbox, "any").await;
    assert_eq!(first.len() + second.len(), 20, "{first:?} {second:?}");
    assert_eq!(first.len(), 10, "round-robin split: {first:?} / {second:?}");

    // Broadcast (fanout > 1) reaches every instance once.
    publish_n(&publisher, &svc(None), 256, "all", 5).await;
    assert_eq!(expect_n(&mut one_inbox, "all", 5).await.len(), 5);
    assert_eq!(expect_n(&mut two_inbox, "all", 5).await.len(), 5);
    assert!(
        collect(&mut one_inbox, "all").await.is_empty(),
        "duplicates"
    );

    // After unsubscribing, instance 1 gets nothing; instance 2 still gets broadcasts.
    one.unsubscribe(&svc(Some(1))).await.unwrap();
    publish_n(&publisher, &svc(Some(1)), 1, "after", 5).await;
    publish_n(&publisher, &svc(None), 256, "bcast", 5).await;
    assert_eq!(expect_n(&mut two_inbox, "bcast", 5).await.len(), 5);
    assert!(collect(&mut one_inbox, "").await.is_empty());
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_on_every_node_of_a_chain_reach_each_other() {
    let (a, b, c) = chain();
    let nodes = [&a, &b, &c];
    let mut clients = Vec::new();
    for (index, node) in nodes.iter().enumerate() {
        let me = name(&format!("app{index}"), Some(index as u128 + 1));
        let (client, inbox) = connect(node.endpoint(), &me).await.unwrap();
        subscribe(&client, &me).await;
        clients.push((me, client, inbox));
    }
    // Every ordered pair, including across two hops.
    for from in 0..3 {
        for to in 0..3 {
            if from == to {
                continue;
            }
            let destination = clients[to].0.clone();
            let publisher = clients[from].1.clone();
            let tag = format!("{from}to{to}");
            publish_until_delivered(&publisher, &destination, 1, &mut clients[to].2, &tag)
                .await
                .unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_mesh_triangle_delivers_each_message_once() {
    let mesh = |spec: NodeSpec| NodeSpec {
        router: vec!["full_mesh: true".into()],
        ..spec
    };
    let a = start(mesh(NodeSpec::new("a")));
    let b = start(mesh(NodeSpec::new("b").link_to(a.endpoint())));
    let c = start(mesh(
        NodeSpec::new("c")
            .link_to(a.endpoint())
            .link_to(b.endpoint()),
    ));
    let svc = |id| name("mesh", id);

    let mut inboxes = Vec::new();
    let mut clients = Vec::new();
    for (index, node) in [&a, &b, &c].iter().enumerate() {
        let me = svc(Some(index as u128 + 1));
        let (client, inbox) = connect(node.endpoint(), &me).await.unwrap();
        subscribe(&client, &me).await;
        clients.push(client);
        inboxes.push(inbox);
    }
    let (publisher, _) = connect(a.endpoint(), &name("pub", Some(7))).await.unwrap();
    for (index, inbox) in inboxes.iter_mut().enumerate() {
        let tag = format!("probe{index}");
        publish_until_delivered(&publisher, &svc(Some(index as u128 + 1)), 1, inbox, &tag)
            .await
            .unwrap();
        collect(inbox, "").await;
    }

    // Broadcast: every instance exactly once (no relaying between peers in a full mesh).
    publish_n(&publisher, &svc(None), 256, "bcast", 10).await;
    for inbox in &mut inboxes {
        assert_eq!(expect_n(inbox, "bcast", 10).await.len(), 10);
        assert!(collect(inbox, "bcast").await.is_empty(), "duplicates");
    }

    // Unicast to the instance on c reaches only c's client.
    publish_n(&publisher, &svc(Some(3)), 1, "uni", 5).await;
    assert_eq!(expect_n(&mut inboxes[2], "uni", 5).await.len(), 5);
    assert!(collect(&mut inboxes[0], "uni").await.is_empty());
    assert!(collect(&mut inboxes[1], "uni").await.is_empty());

    // Anycast from a: one-output routing prefers the nearest instance, a's own client.
    publish_n(&publisher, &svc(None), 1, "near", 10).await;
    assert_eq!(anycast_counts(&mut inboxes, "near").await, [10, 0, 0]);

    // Without it, a alternates between the instances behind its two peers.
    clients[0].unsubscribe(&svc(Some(1))).await.unwrap();
    publish_n(&publisher, &svc(None), 1, "any", 30).await;
    assert_eq!(anycast_counts(&mut inboxes, "any").await, [0, 15, 15]);
}

async fn anycast_counts(inboxes: &mut [slim_client::dataplane::Inbox], tag: &str) -> Vec<usize> {
    let mut counts = Vec::new();
    for inbox in inboxes {
        counts.push(collect(inbox, tag).await.len());
    }
    counts
}
