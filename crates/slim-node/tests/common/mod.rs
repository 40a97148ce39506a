//! Helpers shared by the process-level tests of the `slim` binary.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use bytes::Bytes;
use slim_client::dataplane::{DataPlaneClient, Inbox};
use slim_testkit::clients::{drain, recv_payload};
use slim_testkit::{NodeProcess, NodeSpec};
use slim_wire::Name;

/// The binary under test (only visible to this crate's own tests).
pub const SLIM: &str = env!("CARGO_BIN_EXE_slim");

/// How long to listen for messages that must *not* arrive.
pub const QUIET: Duration = Duration::from_millis(300);

pub fn start(spec: NodeSpec) -> NodeProcess {
    NodeProcess::start(SLIM, spec).expect("node start")
}

/// Subscribes and waits until the subscription is acknowledged.
pub async fn subscribe(client: &DataPlaneClient, name: &Name) {
    client.subscribe(name).await.expect("subscribe");
}

/// Publishes `count` messages `"{tag}-{i}"`.
pub async fn publish_n(
    client: &DataPlaneClient,
    destination: &Name,
    fanout: u32,
    tag: &str,
    count: usize,
) {
    for i in 0..count {
        client
            .publish(destination, fanout, Bytes::from(format!("{tag}-{i}")))
            .await
            .expect("publish");
    }
}

/// Payloads with `tag` that arrive until the inbox has been quiet for [`QUIET`].
pub async fn collect(inbox: &mut Inbox, tag: &str) -> Vec<String> {
    drain(inbox, QUIET)
        .await
        .into_iter()
        .map(|p| String::from_utf8_lossy(&p).into_owned())
        .filter(|p| p.starts_with(tag))
        .collect()
}

/// Receives `count` payloads carrying `tag` (others are skipped), within a deadline.
pub async fn expect_n(inbox: &mut Inbox, tag: &str, count: usize) -> Vec<String> {
    let mut got = Vec::new();
    while got.len() < count {
        let payload = recv_payload(inbox, Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("only {} of {count} {tag} messages arrived", got.len()));
        let text = String::from_utf8_lossy(&payload).into_owned();
        if text.starts_with(tag) {
            got.push(text);
        }
    }
    got
}
