//! `session --pattern throughput` (one publisher → one peer over a point-to-point session)
//! and `--pattern fanout` (one moderator → every member of a group session).
//!
//! The publisher sends as fast as `publish` lets it: with reliable delivery that is the pace
//! of the acknowledgements (flow control), and every publish's [`Completion`] goes to a
//! checker task that awaits them in order and counts how they resolved; fire-and-forget
//! publishes are detached. Each receiver accepts its session, reads in batches and checks
//! the sequence numbers. Rates are deliveries (summed over the receivers) per second from
//! the first publish to the last delivery.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use slim_client::{App, Completion, Session, SessionKind};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::{Order, Setup, close_all, stamp_of, stamped};
use crate::cli::{Amount, SessionArgs, SessionPattern};
use crate::progress::Progress;
use crate::report::Report;
use crate::scenario::{COUNT_EVERY, Deliveries, Memory, Run, TICK};

/// Completions waiting for the checker before the publisher waits for it.
const COMPLETIONS_QUEUED: usize = 1 << 16;

/// Messages a receiver takes per wake-up.
const RECV_BATCH: usize = 1024;

/// How long warm-up delivery may stall before measuring starts anyway.
const WARMUP_STALL: Duration = Duration::from_secs(1);

/// What the receivers report besides deliveries.
#[derive(Debug, Default)]
struct Checks {
    out_of_order: AtomicU64,
    reported_lost: AtomicU64,
}

/// How the completions resolved.
#[derive(Debug, Default)]
struct Resolved {
    ok: u64,
    failed: u64,
    first_error: Option<String>,
}

/// Runs a stream over a session.
pub async fn run(run: &Run, setup: &Setup, args: &SessionArgs) -> Result<Report> {
    let common = &run.common;
    anyhow::ensure!(
        common.size >= 8,
        "session throughput and fanout stamp a sequence number in the payload: --size must be at least 8"
    );
    let group = args.pattern == SessionPattern::Fanout;
    let members = if group { args.members.max(1) } else { 1 };
    let mut memory = Memory::start(common.node_pid);
    let held = run.hold_extras().await?;

    let setting_up = Instant::now();
    let source = setup.connect(run, "source", 0, false).await?;
    let deliveries = Deliveries::new();
    let checks = Arc::new(Checks::default());
    let mut receiving = JoinSet::new();
    let mut receivers = Vec::new();
    let mut names = Vec::new();
    for index in 0..members as usize {
        let role = format!("member-{index}");
        let app = setup.connect(run, &role, index, true).await?;
        names.push(Setup::name(run, &role)?);
        receiving.spawn(receive(
            app.clone(),
            deliveries.clone(),
            checks.clone(),
            setup.reliable,
        ));
        receivers.push(app);
    }
    let session = if group {
        let session = source
            .create_session(
                setup.session_config(SessionKind::Group),
                Setup::name(run, "channel")?,
            )
            .await
            .context("creating the group session")?;
        for name in names {
            session
                .invite(name.clone())
                .await
                .with_context(|| format!("inviting {name}"))?;
        }
        session
    } else {
        let peer = names.pop().context("no receiver")?;
        source
            .create_session(setup.session_config(SessionKind::PointToPoint), peer)
            .await
            .context("creating the point-to-point session")?
    };
    let setup_time = setting_up.elapsed();
    memory.loaded();

    let (completions, pending) = mpsc::channel(COMPLETIONS_QUEUED);
    let checker = tokio::spawn(check_completions(pending));
    let completions = setup.reliable.then_some(completions);
    let template = vec![0xa5u8; common.size];
    let factor = u64::from(members);
    let mut seq = 0u64;

    if !common.warmup.is_none() {
        let sent = Arc::new(AtomicU64::new(0));
        let publishing =
            spawn_publisher(&session, &template, common.warmup, seq, &completions, &sent);
        let (warm, next) = publishing.await.context("publisher task failed")??;
        seq = next;
        let stall = common.drain_timeout.min(WARMUP_STALL);
        deliveries.wait_for(warm * factor, stall, |_| {}).await;
    }

    let amount = common.amount();
    let hint = match amount {
        Amount::Count(n) => n * factor,
        Amount::Duration(_) => 0,
    };
    let title = format!("session {}", args.pattern.as_str());
    let progress = Progress::new(!common.no_progress, &title, amount, hint);
    let base = deliveries.total();
    let started = Instant::now();
    let sent_counter = Arc::new(AtomicU64::new(0));
    let publishing = spawn_publisher(
        &session,
        &template,
        amount,
        seq,
        &completions,
        &sent_counter,
    );
    tokio::pin!(publishing);
    let mut ticker = tokio::time::interval(TICK);
    let sent = loop {
        tokio::select! {
            joined = &mut publishing => break joined.context("publisher task failed")??.0,
            _ = ticker.tick() => {
                progress.update(deliveries.total() - base, started.elapsed());
                memory.tick();
            }
        }
    };
    let publish_time = started.elapsed();
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
        publish_time
    };

    drop(completions);
    let resolved = match tokio::time::timeout(common.drain_timeout, checker).await {
        Ok(joined) => joined.context("completion checker failed")?,
        Err(_) => Resolved {
            first_error: Some(format!(
                "completions still pending {:?} after the last publish",
                common.drain_timeout
            )),
            ..Resolved::default()
        },
    };

    drop(session);
    receiving.abort_all();
    close_all(std::iter::once(source).chain(receivers)).await;
    for client in held {
        client.close();
    }

    let mut report = run.report("session", memory.finish());
    let seconds = elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
    report.publishers = 1;
    report.subscribers = members;
    report.sent = sent;
    report.expected = expected;
    report.delivered = delivered;
    report.lost = expected.saturating_sub(delivered);
    report.elapsed_s = seconds;
    report.msgs_per_s = delivered as f64 / seconds;
    report.bytes_per_s = (delivered * common.size as u64) as f64 / seconds;
    report.publish_rate = sent as f64 / publish_time.as_secs_f64().max(f64::MIN_POSITIVE);
    let mut figures = setup.figures(args.pattern, members, setup_time);
    figures.completions_ok = resolved.ok;
    figures.completions_failed = resolved.failed;
    figures.first_error = resolved.first_error;
    figures.out_of_order = checks.out_of_order.load(Ordering::Relaxed);
    figures.reported_lost = checks.reported_lost.load(Ordering::Relaxed);
    report.session = Some(figures);
    Ok(report)
}

/// Publishes `amount` stamped messages from `seq + 1` on, in a task of its own. Returns how
/// many were published and the last sequence number.
fn spawn_publisher(
    session: &Session,
    template: &[u8],
    amount: Amount,
    seq: u64,
    completions: &Option<mpsc::Sender<Completion>>,
    sent: &Arc<AtomicU64>,
) -> tokio::task::JoinHandle<Result<(u64, u64)>> {
    let session = session.clone();
    let template = template.to_vec();
    let completions = completions.clone();
    let sent = sent.clone();
    tokio::spawn(async move {
        let (limit, end) = match amount {
            Amount::Count(n) => (n, None),
            Amount::Duration(d) => (u64::MAX, Some(Instant::now() + d)),
        };
        let mut n = 0u64;
        let mut seq = seq;
        while n < limit && end.is_none_or(|end| Instant::now() < end) {
            let burst = COUNT_EVERY.min(limit - n);
            for _ in 0..burst {
                seq += 1;
                let payload = stamped(&template, seq);
                match &completions {
                    Some(completions) => {
                        let completion = session.publish(payload).await?;
                        completions
                            .send(completion)
                            .await
                            .context("the completion checker stopped")?;
                    }
                    None => session.publish_detached(payload).await?,
                }
            }
            n += burst;
            sent.fetch_add(burst, Ordering::Relaxed);
        }
        anyhow::Ok((n, seq))
    })
}

/// Awaits every completion in publish order and counts how they resolved.
async fn check_completions(mut pending: mpsc::Receiver<Completion>) -> Resolved {
    let mut resolved = Resolved::default();
    while let Some(completion) = pending.recv().await {
        match completion.await {
            Ok(()) => resolved.ok += 1,
            Err(error) => {
                resolved.failed += 1;
                resolved
                    .first_error
                    .get_or_insert_with(|| error.to_string());
            }
        }
    }
    resolved
}

/// One receiver: accept the session, then count and check what arrives until it closes.
async fn receive(app: App, deliveries: Arc<Deliveries>, checks: Arc<Checks>, reliable: bool) {
    let Ok(session) = app.accept().await else {
        return;
    };
    let mut order = Order::new(reliable);
    let mut batch = Vec::with_capacity(RECV_BATCH);
    while session.recv_many(&mut batch, RECV_BATCH).await > 0 {
        let mut received = 0u64;
        for delivery in batch.drain(..) {
            match delivery {
                Ok(message) => {
                    received += 1;
                    match stamp_of(&message.payload) {
                        Some(seq) => order.see(seq),
                        None => order.out_of_order += 1,
                    }
                }
                Err(_) => {
                    checks.reported_lost.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        deliveries.add(received);
        let wrong = std::mem::take(&mut order.out_of_order);
        if wrong > 0 {
            checks.out_of_order.fetch_add(wrong, Ordering::Relaxed);
        }
    }
}
