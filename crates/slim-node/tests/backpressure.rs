//! A subscriber that stops reading must slow its publisher down, not grow the node's memory.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use slim_client::dataplane::{DataPlaneClient, DataPlaneConfig, app_payload};
use slim_testkit::NodeSpec;
use slim_testkit::clients::{connect, name, publish_until_delivered};

const PAYLOAD: usize = 1024;
/// What the publisher tries to push: 200 MB, far beyond every buffer on the way.
const ATTEMPTS: usize = 200_000;
/// Resident memory the node may add while the consumer is stalled. The buffers on the way
/// (HTTP/2 windows of two connections, two link queues, codec buffers) hold well under this;
/// without back-pressure the node would hold the whole 200 MB.
const RSS_BUDGET_KIB: u64 = 96 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_subscriber_back_pressures_the_publisher_and_memory_stays_bounded() {
    let node = start(NodeSpec::new("bp"));
    let sink = name("sink", Some(1));
    let mut config = DataPlaneConfig::new(node.endpoint(), sink.clone());
    config.inbox_capacity = 8;
    let (consumer, mut inbox) = DataPlaneClient::connect(config).await.unwrap();
    subscribe(&consumer, &sink).await;
    let (publisher, _) = connect(node.endpoint(), &name("firehose", Some(2)))
        .await
        .unwrap();
    publish_until_delivered(&publisher, &sink, 1, &mut inbox, "warmup")
        .await
        .unwrap();
    while inbox.try_recv().is_some() {}
    let baseline = node.rss_kib().unwrap();

    // Publish until a send has waited 2 s for room: the consumer is not reading.
    let payload = Bytes::from(vec![b'x'; PAYLOAD]);
    let mut sent = 0usize;
    let mut peak = baseline;
    let mut stalled = false;
    while sent < ATTEMPTS {
        let publish = publisher.publish(&sink, 1, payload.clone());
        match tokio::time::timeout(Duration::from_secs(2), publish).await {
            Ok(result) => result.unwrap(),
            Err(_) => {
                stalled = true;
                break;
            }
        }
        sent += 1;
        if sent.is_multiple_of(1000) {
            peak = peak.max(node.rss_kib().unwrap());
        }
    }
    peak = peak.max(node.rss_kib().unwrap());
    eprintln!(
        "accepted {sent} messages before stalling; node RSS {baseline} KiB -> peak {peak} KiB"
    );
    assert!(
        stalled,
        "all {sent} messages were accepted: nothing pushed back"
    );
    assert!(
        peak - baseline < RSS_BUDGET_KIB,
        "node grew by {} KiB while {sent} messages were in flight",
        peak - baseline
    );

    // Once the consumer reads again, everything that was accepted arrives: nothing was
    // dropped to make room.
    let mut received = 0usize;
    while received < sent {
        let frame = tokio::time::timeout(Duration::from_secs(20), inbox.recv())
            .await
            .unwrap_or_else(|_| panic!("stuck after {received} of {sent}"))
            .unwrap();
        if app_payload(&frame).is_some_and(|p| p.len() == PAYLOAD) {
            received += 1;
        }
    }
    assert_eq!(received, sent);
}
