//! One-way streams: `pubsub` (N publishers → M subscribers, each message to one of them) and
//! `fanout` (one publisher → N subscribers, each message to all). Fire-and-forget: the
//! publishers never wait for the subscribers, only for room in their connection's queue.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use anyhow::Result;
use bytes::Bytes;
use tokio::task::JoinSet;

use super::{Deliveries, Memory, Run, publish_all};
use crate::cli::Amount;
use crate::progress::Progress;
use crate::report::Report;
use crate::system::{Address, Client, Delivery};

/// How long warm-up delivery may stall before measuring starts anyway.
const WARMUP_STALL: Duration = Duration::from_secs(1);

/// Which stream to run.
pub struct Shape {
    /// Scenario name for the report.
    pub scenario: &'static str,
    /// Publishing clients.
    pub publishers: u32,
    /// Subscribing clients.
    pub subscribers: u32,
    /// Anycast (pubsub) or broadcast (fanout).
    pub delivery: Delivery,
}

impl Shape {
    /// Deliveries each publish should cause.
    fn receivers_per_message(&self) -> u64 {
        match self.delivery {
            Delivery::Broadcast => u64::from(self.subscribers),
            Delivery::Anycast | Delivery::Unicast => 1,
        }
    }
}

/// Runs a stream scenario.
pub async fn run(run: &Run, shape: Shape) -> Result<Report> {
    let common = &run.common;
    let mut memory = Memory::start(common.node_pid);
    let held = run.hold_extras().await?;

    // Subscribers first, each acknowledged, so no publish finds nobody to go to.
    let deliveries = Deliveries::new();
    let mut receiving = JoinSet::new();
    let mut subscribers = Vec::new();
    for index in 0..shape.subscribers as usize {
        let mut client = run.connect_subscriber(shape.scenario, index).await?;
        client.subscribe(shape.delivery).await?;
        if let Some(mut receiver) = client.take_receiver() {
            let deliveries = deliveries.clone();
            receiving.spawn(async move {
                loop {
                    let n = receiver.count_some().await;
                    if n == 0 {
                        break;
                    }
                    deliveries.add(n as u64);
                }
            });
        }
        subscribers.push(client);
    }

    let topic = Address::instance(&run.id, shape.scenario, 0).any();
    let payload = Bytes::from(vec![0xa5u8; common.size]);
    let mut publisher_clients = Vec::new();
    let mut publishers = Vec::new();
    for index in 0..shape.publishers as usize {
        let client = run
            .connect_publisher(&format!("{}-pub", shape.scenario), index)
            .await?;
        publishers.push(Arc::new(client.publisher(
            &topic,
            shape.delivery,
            payload.clone(),
            false,
        )?));
        publisher_clients.push(client);
    }
    memory.loaded();

    let factor = shape.receivers_per_message();
    if !common.warmup.is_none() {
        let sent = Arc::new(AtomicU64::new(0));
        let (warm, _) = publish_all(&publishers, common.warmup, &sent, || {}).await?;
        flush(&publisher_clients).await?;
        // Warm-up losses (a slow consumer's drops) are not measured: do not wait long.
        let stall = common.drain_timeout.min(WARMUP_STALL);
        deliveries.wait_for(warm * factor, stall, |_| {}).await;
    }

    let amount = common.amount();
    let expected_hint = match amount {
        Amount::Count(n) => n * factor,
        Amount::Duration(_) => 0,
    };
    let title = format!("{} {}", shape.scenario, common.system.as_str());
    let progress = Progress::new(!common.no_progress, &title, amount, expected_hint);
    let base = deliveries.total();
    let started = std::time::Instant::now();
    let sent_counter = Arc::new(AtomicU64::new(0));
    let (sent, publishing) = publish_all(&publishers, amount, &sent_counter, || {
        progress.update(deliveries.total() - base, started.elapsed());
        memory.tick();
    })
    .await?;
    flush(&publisher_clients).await?;
    let expected = sent * factor;
    deliveries
        .wait_for(base + expected, common.drain_timeout, |total| {
            progress.update(total - base, started.elapsed());
            memory.tick();
        })
        .await;
    progress.finish();
    let delivered = deliveries.total() - base;
    let elapsed = if delivered > 0 {
        deliveries.last().saturating_duration_since(started)
    } else {
        publishing
    };

    for client in publisher_clients.into_iter().chain(subscribers).chain(held) {
        client.close();
    }
    receiving.abort_all();

    let mut report = run.report(shape.scenario, memory.finish());
    let seconds = elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
    report.publishers = shape.publishers;
    report.subscribers = shape.subscribers;
    report.sent = sent;
    report.expected = expected;
    report.delivered = delivered;
    report.lost = expected.saturating_sub(delivered);
    report.elapsed_s = seconds;
    report.msgs_per_s = delivered as f64 / seconds;
    report.bytes_per_s = (delivered * common.size as u64) as f64 / seconds;
    report.publish_rate = sent as f64 / publishing.as_secs_f64().max(f64::MIN_POSITIVE);
    Ok(report)
}

async fn flush(clients: &[Client]) -> Result<()> {
    for client in clients {
        client.flush().await?;
    }
    Ok(())
}
