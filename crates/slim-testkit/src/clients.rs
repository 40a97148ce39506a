//! Data-plane clients with test settings, and helpers that wait for a condition with a
//! deadline instead of sleeping.

use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;
use slim_client::dataplane::{DataPlaneClient, DataPlaneConfig, Inbox, app_payload};
use slim_transport::config::BackoffConfig;
use slim_wire::{InstanceId, Name};

/// Default deadline of the waiting helpers.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// `org/ns/<service>` with instance id `id` (`None` = any instance). Panics on a service
/// containing `/` (a bug in the test).
pub fn name(service: &str, id: Option<u128>) -> Name {
    #[allow(clippy::expect_used)]
    let base = Name::new("org", "ns", service).expect("test service names contain no '/'");
    match id {
        Some(id) => base.with_id(InstanceId(id)),
        None => base,
    }
}

/// Connects a client named `me` to `endpoint`, redialing every 100 ms.
pub async fn connect(endpoint: &str, me: &Name) -> anyhow::Result<(DataPlaneClient, Inbox)> {
    let mut config = DataPlaneConfig::new(endpoint, me.clone());
    config.link.backoff = BackoffConfig::Fixed {
        interval: Duration::from_millis(100),
        max_attempts: None,
    };
    Ok(DataPlaneClient::connect(config).await?)
}

/// Waits for the next frame with an application payload, up to `timeout`.
pub async fn recv_payload(inbox: &mut Inbox, timeout: Duration) -> Option<Bytes> {
    let end = Instant::now() + timeout;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        let frame = tokio::time::timeout(left, inbox.recv()).await.ok()??;
        if let Some(payload) = app_payload(&frame) {
            return Some(payload);
        }
    }
}

/// Every payload that arrives within `quiet` of the previous one (used after a burst to
/// collect what came, and to check that nothing else does).
pub async fn drain(inbox: &mut Inbox, quiet: Duration) -> Vec<Bytes> {
    let mut got = Vec::new();
    while let Some(payload) = recv_payload(inbox, quiet).await {
        got.push(payload);
    }
    got
}

/// Publishes probes `"{tag}-{n}"` to `destination` until one reaches `inbox`, for at most
/// [`DEADLINE`]: subscriptions propagate between nodes asynchronously, so the first publishes
/// may find no route. Other probes that arrive later are left in the inbox; use distinct tags
/// and skip them with [`drain`]. Returns how many probes were sent.
pub async fn publish_until_delivered(
    publisher: &DataPlaneClient,
    destination: &Name,
    fanout: u32,
    inbox: &mut Inbox,
    tag: &str,
) -> anyhow::Result<u32> {
    let end = Instant::now() + DEADLINE;
    let mut sent = 0;
    while Instant::now() < end {
        sent += 1;
        let probe = Bytes::from(format!("{tag}-{sent}"));
        // A publish can fail while a link is down; keep probing.
        let _ = publisher.publish(destination, fanout, probe).await;
        if let Some(payload) = recv_payload(inbox, Duration::from_millis(200)).await
            && payload.starts_with(tag.as_bytes())
        {
            return Ok(sent);
        }
    }
    anyhow::bail!("no probe {tag} reached the subscriber within {DEADLINE:?}")
}

/// Polls `check` every 50 ms until it returns true, for at most `deadline`.
pub async fn eventually<F, Fut>(deadline: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let end = Instant::now() + deadline;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
