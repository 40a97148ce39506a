//! `session --pattern rtt`: request/echo round trips over one point-to-point session.
//!
//! The echo application accepts the session and publishes every message it receives back
//! (`publish_detached`: it does not wait for acknowledgements). The requester publishes one
//! stamped request, waits for the echo carrying the same stamp, records the time and goes
//! on; an echo that does not come within `--request-timeout` is counted as lost (a late one
//! is recognised by its stamp and skipped).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use hdrhistogram::Histogram;
use slim_client::{Session, SessionKind};

use super::{Setup, close_all, stamp_of, stamped};
use crate::cli::{Amount, SessionArgs};
use crate::progress::Progress;
use crate::report::{Latency, Report};
use crate::scenario::{Memory, Run, TICK};

/// Histogram range: 1 ns to 60 s, three significant digits.
const HISTOGRAM_MAX_NS: u64 = 60_000_000_000;

/// Messages the echo takes per wake-up.
const ECHO_BATCH: usize = 64;

/// What one phase of pings counted.
struct Tally {
    histogram: Histogram<u64>,
    sent: u64,
    received: u64,
    reported_lost: u64,
}

/// Runs the round trips.
pub async fn run(run: &Run, setup: &Setup, args: &SessionArgs) -> Result<Report> {
    let common = &run.common;
    let mut memory = Memory::start(common.node_pid);
    let held = run.hold_extras().await?;

    let setting_up = Instant::now();
    let echo = setup.connect(run, "echo", 0, true).await?;
    let requester = setup.connect(run, "requester", 0, false).await?;
    let echoing = echo.clone();
    let echo_task = tokio::spawn(async move {
        let session = echoing.accept().await?;
        let mut batch = Vec::with_capacity(ECHO_BATCH);
        while session.recv_many(&mut batch, ECHO_BATCH).await > 0 {
            for message in batch.drain(..).flatten() {
                session.publish_detached(message.payload).await?;
            }
        }
        anyhow::Ok(())
    });
    let session = requester
        .create_session(
            setup.session_config(SessionKind::PointToPoint),
            Setup::name(run, "echo")?,
        )
        .await
        .context("creating the point-to-point session")?;
    let setup_time = setting_up.elapsed();
    memory.loaded();

    let template = vec![0x5au8; common.size];
    let timeout = args.request_timeout;
    let mut seq = 0u64;
    if !common.warmup.is_none() {
        let done = Arc::new(AtomicU64::new(0));
        let (_, next) = ping_task(
            &session,
            &template,
            common.warmup,
            timeout,
            seq,
            &done,
            |_| {},
        )
        .await?;
        seq = next;
    }

    let amount = common.amount();
    let hint = match amount {
        Amount::Count(n) => n,
        Amount::Duration(_) => 0,
    };
    let progress = Progress::new(!common.no_progress, "session rtt", amount, hint);
    let started = Instant::now();
    let done = Arc::new(AtomicU64::new(0));
    let (tally, _) = ping_task(&session, &template, amount, timeout, seq, &done, |n| {
        progress.update(n, started.elapsed());
        memory.tick();
    })
    .await?;
    let elapsed = started.elapsed();
    progress.finish();

    drop(session);
    echo_task.abort();
    close_all([requester, echo]).await;
    for client in held {
        client.close();
    }

    let mut report = run.report("session", memory.finish());
    let seconds = elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
    report.publishers = 1;
    report.subscribers = 1;
    report.sent = tally.sent;
    report.expected = tally.sent;
    report.delivered = tally.received;
    report.lost = tally.sent.saturating_sub(tally.received);
    report.elapsed_s = seconds;
    report.msgs_per_s = tally.received as f64 / seconds;
    report.bytes_per_s = (tally.received * common.size as u64) as f64 / seconds;
    report.publish_rate = tally.sent as f64 / seconds;
    report.latency_us =
        (!tally.histogram.is_empty()).then(|| Latency::from_nanos(&tally.histogram));
    let mut figures = setup.figures(args.pattern, 1, setup_time);
    figures.reported_lost = tally.reported_lost;
    report.session = Some(figures);
    Ok(report)
}

/// Runs [`ping`] in its own task while `tick` sees the round trips done every [`TICK`].
/// Returns the tally and the next sequence number.
async fn ping_task(
    session: &Session,
    template: &[u8],
    amount: Amount,
    timeout: Duration,
    seq: u64,
    done: &Arc<AtomicU64>,
    mut tick: impl FnMut(u64),
) -> Result<(Tally, u64)> {
    let pinging = {
        let session = session.clone();
        let template = template.to_vec();
        let done = done.clone();
        tokio::spawn(async move { ping(&session, &template, amount, timeout, seq, &done).await })
    };
    tokio::pin!(pinging);
    let mut ticker = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            joined = &mut pinging => return joined.context("requester task failed")?,
            _ = ticker.tick() => tick(done.load(Ordering::Relaxed)),
        }
    }
}

/// Request, wait for its echo, record, repeat.
async fn ping(
    session: &Session,
    template: &[u8],
    amount: Amount,
    timeout: Duration,
    mut seq: u64,
    done: &AtomicU64,
) -> Result<(Tally, u64)> {
    let mut tally = Tally {
        histogram: Histogram::new_with_bounds(1, HISTOGRAM_MAX_NS, 3)
            .context("creating a histogram")?,
        sent: 0,
        received: 0,
        reported_lost: 0,
    };
    let (limit, end) = match amount {
        Amount::Count(n) => (n, None),
        Amount::Duration(d) => (u64::MAX, Some(Instant::now() + d)),
    };
    let stamps = template.len() >= 8;
    while tally.sent < limit {
        let sent_at = Instant::now();
        if end.is_some_and(|end| sent_at >= end) {
            break;
        }
        seq += 1;
        session.publish_detached(stamped(template, seq)).await?;
        tally.sent += 1;
        let deadline = tokio::time::Instant::from_std(sent_at + timeout);
        loop {
            match tokio::time::timeout_at(deadline, session.recv()).await {
                Ok(Some(Ok(echo))) => {
                    if stamps && stamp_of(&echo.payload) != Some(seq) {
                        continue; // the late echo of an earlier request
                    }
                    let ns = u64::try_from(sent_at.elapsed().as_nanos()).unwrap_or(u64::MAX);
                    tally
                        .histogram
                        .saturating_record(ns.clamp(1, HISTOGRAM_MAX_NS));
                    tally.received += 1;
                    done.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Ok(Some(Err(_lost))) => tally.reported_lost += 1,
                Ok(None) => anyhow::bail!(
                    "the session closed while waiting for an echo: {:?}",
                    session.close_reason()
                ),
                // Counted as lost: sent but not received.
                Err(_) => break,
            }
        }
    }
    Ok((tally, seq))
}
