//! Killing and restarting the middle node of a chain: the links come back and every
//! subscription is restored, without anything done by the applications.

mod common;

use common::*;
use slim_testkit::NodeSpec;
use slim_testkit::clients::{connect, name, publish_until_delivered};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_the_middle_node_restores_links_and_subscriptions() {
    let mut b = start(NodeSpec::new("b"));
    let a = start(NodeSpec::new("a").link_to(b.endpoint()));
    let c = start(NodeSpec::new("c").link_to(b.endpoint()));

    // A subscriber at each end and one attached to the middle node itself.
    let far = name("far", Some(1));
    let (far_client, mut far_inbox) = connect(a.endpoint(), &far).await.unwrap();
    subscribe(&far_client, &far).await;
    let mid = name("mid", Some(2));
    let (mid_client, mut mid_inbox) = connect(b.endpoint(), &mid).await.unwrap();
    subscribe(&mid_client, &mid).await;
    let (publisher, _) = connect(c.endpoint(), &name("pub", Some(3))).await.unwrap();

    publish_until_delivered(&publisher, &far, 1, &mut far_inbox, "before-far")
        .await
        .unwrap();
    publish_until_delivered(&publisher, &mid, 1, &mut mid_inbox, "before-mid")
        .await
        .unwrap();

    let generation = mid_client.generation();
    let (old_pid, old_endpoint) = (b.pid(), b.endpoint().to_owned());
    b.restart().unwrap();
    assert_ne!(b.pid(), old_pid);
    assert_eq!(b.endpoint(), old_endpoint, "restarted on the same port");

    // a and c redial b; a's sync brings "far" back; the client on b reconnects and
    // re-subscribes "mid" by itself.
    publish_until_delivered(&publisher, &far, 1, &mut far_inbox, "after-far")
        .await
        .unwrap();
    assert!(
        mid_client
            .wait_generation(generation + 1, slim_testkit::clients::DEADLINE)
            .await
            > generation
    );
    publish_until_delivered(&publisher, &mid, 1, &mut mid_inbox, "after-mid")
        .await
        .unwrap();
    drop((a, c));
}
