//! Group calls through a real `slim` node: five servers in one group session, one slow and
//! one failing; each policy returns exactly what it promises and stragglers are cancelled.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::*;
use slim_rpc::{CallOptions, Code, Context, GroupChannel, Policy, RawCodec, Server, Status};

const SLOW: &str = "member-slow";
const FAILING: &str = "member-failing";
const FAST: [&str; 3] = ["member-a", "member-b", "member-c"];
/// How long the slow member takes when nobody cancels it.
const SLOW_MS: u64 = 1500;

#[derive(Default)]
struct Slow {
    started: AtomicUsize,
    cancelled: AtomicUsize,
}

fn member_server(role: &'static str, slow: Arc<Slow>) -> Server {
    Server::builder()
        .unary::<RawCodec, _, _>(method("Work"), move |_request: Bytes, ctx: Context| {
            let slow = slow.clone();
            async move {
                match role {
                    FAILING => Err(Status::internal("disk on fire")),
                    SLOW => {
                        slow.started.fetch_add(1, Ordering::SeqCst);
                        // The server drops a cancelled handler's future: a task of the
                        // handler's, holding the context, is what sees the cancellation.
                        let watcher = {
                            let slow = slow.clone();
                            tokio::spawn(async move {
                                ctx.cancelled().await;
                                slow.cancelled.fetch_add(1, Ordering::SeqCst);
                            })
                        };
                        tokio::time::sleep(Duration::from_millis(SLOW_MS)).await;
                        watcher.abort();
                        Ok(Bytes::from(format!("done:{role}")))
                    }
                    _ => Ok(Bytes::from(format!("done:{role}"))),
                }
            }
        })
        .build()
}

fn timeout(ms: u64) -> CallOptions {
    CallOptions::new().with_timeout(Duration::from_millis(ms))
}

fn service_of(member: &slim_client::Name) -> String {
    member.components().unwrap()[2].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_policy_returns_what_it_promises_and_stragglers_are_cancelled() {
    let node = node();
    let slow = Arc::new(Slow::default());
    let mut members = Vec::new();
    let mut apps = Vec::new();
    for role in FAST.into_iter().chain([SLOW, FAILING]) {
        let app = app(&node, role).await;
        let server = member_server(role, slow.clone());
        let serving = app.clone();
        tokio::spawn(async move { server.serve(serving).await });
        members.push(name(role));
        apps.push(app);
    }
    let caller = app(&node, "caller").await;
    let group = GroupChannel::new(caller, name("rpc-group-channel"), members.clone());
    within("group setup", group.connect()).await.unwrap();
    let work = method("Work");
    let request = Bytes::from_static(b"job");

    // All: every member's outcome, the failure attributed to its member.
    let all = within(
        "all",
        group.unary::<RawCodec>(&work, &request, Policy::All, &timeout(30_000)),
    )
    .await
    .unwrap();
    assert_eq!(all.replies.len(), 5);
    assert!(all.missing.is_empty());
    let mut ok: Vec<String> = all.successes().map(|(m, _)| service_of(m)).collect();
    ok.sort();
    assert_eq!(ok, ["member-a", "member-b", "member-c", "member-slow"]);
    let failures: Vec<_> = all.failures().collect();
    assert_eq!(failures.len(), 1);
    assert_eq!(service_of(failures[0].0), FAILING);
    assert_eq!(failures[0].1.code(), Code::Internal);
    assert_eq!(failures[0].1.message(), "disk on fire");
    for (member, reply) in all.successes() {
        assert_eq!(reply, &format!("done:{}", service_of(member)));
    }
    assert_eq!(slow.cancelled.load(Ordering::SeqCst), 0);

    // FirstSuccess: exactly one success, from a fast member; the slow one is cancelled.
    let first = within(
        "first success",
        group.unary::<RawCodec>(&work, &request, Policy::FirstSuccess, &timeout(30_000)),
    )
    .await
    .unwrap();
    let successes: Vec<String> = first.successes().map(|(m, _)| service_of(m)).collect();
    assert_eq!(successes.len(), 1);
    assert!(FAST.contains(&successes[0].as_str()), "{successes:?}");
    assert!(first.missing.iter().any(|m| service_of(m) == SLOW));
    eventually("slow member cancelled after first success", || {
        slow.cancelled.load(Ordering::SeqCst) == 1
    })
    .await;

    // Quorum(3): the three fast members, the slow one cancelled.
    let quorum = within(
        "quorum 3",
        group.unary::<RawCodec>(&work, &request, Policy::Quorum(3), &timeout(30_000)),
    )
    .await
    .unwrap();
    let mut successes: Vec<String> = quorum.successes().map(|(m, _)| service_of(m)).collect();
    successes.sort();
    assert_eq!(successes, FAST);
    eventually("slow member cancelled after quorum", || {
        slow.cancelled.load(Ordering::SeqCst) == 2
    })
    .await;

    // Quorum(5) cannot be met once the failing member answered: an error naming it, at
    // once (well before the slow member would answer), and the slow member is cancelled.
    let started = tokio::time::Instant::now();
    let impossible = within(
        "quorum 5",
        group.unary::<RawCodec>(&work, &request, Policy::Quorum(5), &timeout(30_000)),
    )
    .await
    .unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(SLOW_MS));
    assert_eq!(impossible.code(), Code::Unavailable);
    assert!(impossible.message().contains(FAILING), "{impossible}");
    eventually("slow member cancelled after an impossible quorum", || {
        slow.cancelled.load(Ordering::SeqCst) == 3
    })
    .await;

    // PartialOnDeadline: what arrived by the deadline, the slow member missing.
    let partial = within(
        "partial",
        group.unary::<RawCodec>(&work, &request, Policy::PartialOnDeadline, &timeout(700)),
    )
    .await
    .unwrap();
    assert_eq!(partial.successes().count(), 3);
    assert_eq!(partial.failures().count(), 1);
    assert_eq!(
        partial.missing.iter().map(service_of).collect::<Vec<_>>(),
        [SLOW]
    );
    eventually("slow member cancelled at the partial deadline", || {
        slow.cancelled.load(Ordering::SeqCst) == 4
    })
    .await;

    // All with a deadline the slow member misses: DEADLINE_EXCEEDED naming it.
    let late = within(
        "all, late",
        group.unary::<RawCodec>(&work, &request, Policy::All, &timeout(700)),
    )
    .await
    .unwrap_err();
    assert_eq!(late.code(), Code::DeadlineExceeded);
    assert!(late.message().contains(SLOW), "{late}");
    assert_eq!(slow.started.load(Ordering::SeqCst), 6);

    // A quorum larger than the group is refused before anything is sent.
    let refused = group
        .unary::<RawCodec>(&work, &request, Policy::Quorum(6), &timeout(1000))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    drop(apps);
}
