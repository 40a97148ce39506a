//! `rtt`: request/echo round trips. Each requesting client keeps one request in flight and
//! times it from just before the publish to the arrival of the echo; echo responders answer
//! each request to its sender with a payload of the same size.
//!
//! Through SLIM a round trip is four hops through the node (client → node → responder →
//! node → client), each a gRPC message with its header MAC; through NATS the same four.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use bytes::Bytes;
use hdrhistogram::Histogram;
use tokio::task::JoinSet;

use super::{Memory, Run, TICK};
use crate::cli::{Amount, RttArgs};
use crate::progress::Progress;
use crate::report::{Latency, Report};
use crate::system::{Address, Client, Delivery, Publisher, Receiver};

/// Histogram range: 1 ns to 60 s, three significant digits.
const HISTOGRAM_MAX_NS: u64 = 60_000_000_000;

/// One requester's tally.
struct Tally {
    histogram: Histogram<u64>,
    sent: u64,
    received: u64,
}

/// Runs the round-trip scenario.
pub async fn run(run: &Run, args: &RttArgs) -> Result<Report> {
    let common = &run.common;
    let mut memory = Memory::start(common.node_pid);
    let held = run.hold_extras().await?;
    let payload = Bytes::from(vec![0x5au8; common.size]);

    let mut echoes = JoinSet::new();
    for index in 0..args.responders.max(1) as usize {
        let mut client = run.connect_subscriber("rtt-echo", index).await?;
        client.subscribe(Delivery::Anycast).await?;
        let mut receiver = client
            .take_receiver()
            .context("responder without a receiver")?;
        let payload = payload.clone();
        echoes.spawn(async move {
            while let Some(request) = receiver.next().await {
                client.reply(&request, &payload).await?;
            }
            client.close();
            anyhow::Ok(())
        });
    }

    let echo = Address::instance(&run.id, "rtt-echo", 0).any();
    let mut requesters = Vec::new();
    for index in 0..args.clients.max(1) as usize {
        let mut client = run.connect_publisher("rtt-client", index).await?;
        client.subscribe(Delivery::Unicast).await?;
        let receiver = client
            .take_receiver()
            .context("requester without a receiver")?;
        let publisher = client.publisher(&echo, Delivery::Anycast, payload.clone(), true)?;
        requesters.push((client, publisher, receiver));
    }
    memory.loaded();

    let workers = requesters.len() as u64;
    let timeout = args.request_timeout;
    if !common.warmup.is_none() {
        let done = Arc::new(AtomicU64::new(0));
        requesters = ping_all(requesters, common.warmup, timeout, &done, |_| {})
            .await?
            .into_iter()
            .map(|(requester, _)| requester)
            .collect();
    }

    let amount = common.amount();
    let expected_hint = match amount {
        Amount::Count(n) => n,
        Amount::Duration(_) => 0,
    };
    let title = format!("rtt {}", common.system.as_str());
    let progress = Progress::new(!common.no_progress, &title, amount, expected_hint);
    let started = Instant::now();
    let done = Arc::new(AtomicU64::new(0));
    let results = ping_all(requesters, amount, timeout, &done, |n| {
        progress.update(n, started.elapsed());
        memory.tick();
    })
    .await?;
    let elapsed = started.elapsed();
    progress.finish();

    let mut histogram = new_histogram()?;
    let (mut sent, mut received) = (0, 0);
    for ((client, _, _), tally) in results {
        histogram
            .add(&tally.histogram)
            .context("merging histograms")?;
        sent += tally.sent;
        received += tally.received;
        client.close();
    }
    echoes.abort_all();
    for client in held {
        client.close();
    }

    let mut report = run.report("rtt", memory.finish());
    let seconds = elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
    report.publishers = workers as u32;
    report.subscribers = args.responders.max(1);
    report.sent = sent;
    report.expected = sent;
    report.delivered = received;
    report.lost = sent.saturating_sub(received);
    report.elapsed_s = seconds;
    report.msgs_per_s = received as f64 / seconds;
    report.bytes_per_s = (received * common.size as u64) as f64 / seconds;
    report.publish_rate = sent as f64 / seconds;
    report.latency_us = (!histogram.is_empty()).then(|| Latency::from_nanos(&histogram));
    Ok(report)
}

fn new_histogram() -> Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, HISTOGRAM_MAX_NS, 3).context("creating a histogram")
}

type Requester = (Client, Publisher, Receiver);

/// Runs every requester for its share of `amount`; hands the requesters back with their
/// tallies. `tick` sees the round trips completed so far every [`TICK`].
async fn ping_all(
    requesters: Vec<Requester>,
    amount: Amount,
    timeout: Duration,
    done: &Arc<AtomicU64>,
    mut tick: impl FnMut(u64),
) -> Result<Vec<(Requester, Tally)>> {
    let workers = requesters.len() as u64;
    let mut tasks = JoinSet::new();
    for (worker, (client, publisher, mut receiver)) in requesters.into_iter().enumerate() {
        let share = amount.share(worker as u64, workers);
        let done = done.clone();
        tasks.spawn(async move {
            let tally = ping(&publisher, &mut receiver, share, timeout, &done).await?;
            anyhow::Ok(((client, publisher, receiver), tally))
        });
    }
    let mut results = Vec::new();
    let mut ticker = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            joined = tasks.join_next() => match joined {
                None => break,
                Some(result) => results.push(result.context("requester task failed")??),
            },
            _ = ticker.tick() => tick(done.load(Ordering::Relaxed)),
        }
    }
    Ok(results)
}

/// One requester: request, wait for the echo, record, repeat.
async fn ping(
    publisher: &Publisher,
    receiver: &mut Receiver,
    amount: Amount,
    timeout: Duration,
    done: &AtomicU64,
) -> Result<Tally> {
    let mut tally = Tally {
        histogram: new_histogram()?,
        sent: 0,
        received: 0,
    };
    let (limit, end) = match amount {
        Amount::Count(n) => (n, None),
        Amount::Duration(d) => (u64::MAX, Some(Instant::now() + d)),
    };
    while tally.sent < limit {
        let sent_at = Instant::now();
        if end.is_some_and(|end| sent_at >= end) {
            break;
        }
        publisher.send().await?;
        tally.sent += 1;
        match tokio::time::timeout(timeout, receiver.next()).await {
            Ok(Some(_)) => {
                let ns = u64::try_from(sent_at.elapsed().as_nanos()).unwrap_or(u64::MAX);
                tally
                    .histogram
                    .saturating_record(ns.clamp(1, HISTOGRAM_MAX_NS));
                tally.received += 1;
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok(None) => anyhow::bail!("connection closed while waiting for an echo"),
            // Counted as lost: sent but not received.
            Err(_) => {}
        }
    }
    Ok(tally)
}
