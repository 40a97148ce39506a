//! Group sessions through a real `slim` node process: five members with MLS where everyone
//! receives everyone's messages in order; invitations and a removal while traffic flows.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use common::*;
use slim_client::{App, CloseReason, MemberStatus, Name, Role, Session, SessionConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_of_five_with_mls_delivers_every_message_to_every_member() {
    const EACH: u32 = 100;
    let node = node();
    let moderator = app(&node, "moderator").await;
    let members: Vec<App> = futures_join(["m1", "m2", "m3", "m4"].map(|s| app(&node, s))).await;
    let accepts: Vec<_> = members
        .iter()
        .map(|m| {
            let m = m.clone();
            tokio::spawn(async move { m.accept().await.unwrap() })
        })
        .collect();

    let channel = name("chat");
    let group = within(
        "create",
        moderator.create_session(SessionConfig::group().with_mls(), channel.clone()),
    )
    .await
    .unwrap();
    for member in &members {
        within(
            "invite",
            group.invite(name(member.name().components().unwrap()[2])),
        )
        .await
        .expect("invitation completes");
    }
    let mut sessions = Vec::new();
    for accept in accepts {
        sessions.push(within("accept", accept).await.unwrap());
    }
    let roster = group.participants().await.unwrap();
    assert_eq!(roster.len(), 5, "{roster:?}");
    assert!(roster.iter().all(|p| p.status == MemberStatus::Online));
    for session in &sessions {
        assert_eq!(session.role(), Role::Participant);
        assert!(session.config().mls.is_some());
        assert_eq!(session.moderator(), moderator.name());
    }

    // Everyone publishes EACH messages at once and reads 4 × EACH.
    let everyone: Vec<(App, Session)> = std::iter::once((moderator.clone(), group.clone()))
        .chain(members.iter().cloned().zip(sessions.iter().cloned()))
        .collect();
    everyone_publishes(&everyone, EACH).await;

    within("close", group.close()).await.unwrap();
    for session in &sessions {
        assert!(
            within("member sees the close", session.recv())
                .await
                .is_none(),
            "no more messages"
        );
        assert_eq!(session.close_reason(), Some(CloseReason::ClosedByPeer));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invite_and_remove_while_traffic_flows() {
    let node = node();
    let moderator = app(&node, "moderator").await;
    let members: Vec<App> = futures_join(["m1", "m2", "m3"].map(|s| app(&node, s))).await;
    let group = within(
        "create",
        moderator.create_session(SessionConfig::group().with_mls(), name("live")),
    )
    .await
    .unwrap();

    // The moderator publishes a numbered stream the whole time.
    let stop = Arc::new(AtomicBool::new(false));
    let published = Arc::new(AtomicUsize::new(0));
    let publisher = tokio::spawn({
        let group = group.clone();
        let stop = stop.clone();
        let published = published.clone();
        async move {
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                group.publish(n.to_string()).await.unwrap();
                n += 1;
                published.store(n as usize, Ordering::Relaxed);
                if n.is_multiple_of(20) {
                    tokio::task::yield_now().await;
                }
            }
            n
        }
    });

    // Members join one after another while the stream flows.
    let mut sessions: Vec<Session> = Vec::new();
    for member in &members {
        let accept = tokio::spawn({
            let member = member.clone();
            async move { member.accept().await.unwrap() }
        });
        within("invite", group.invite(service_name(member)))
            .await
            .unwrap();
        sessions.push(within("accept", accept).await.unwrap());
    }
    // Each member reads what it gets in the background, recording its progress.
    let counts: Vec<Arc<AtomicUsize>> = sessions.iter().map(|_| Arc::default()).collect();
    let readers: Vec<_> = sessions
        .iter()
        .cloned()
        .zip(counts.iter().cloned())
        .enumerate()
        .map(|(i, (session, count))| {
            tokio::spawn(async move {
                let mut numbers: Vec<u32> = Vec::new();
                while let Some(delivery) = session.recv().await {
                    let message = delivery.unwrap_or_else(|lost| {
                        panic!("member {i} after {:?}: {lost}", numbers.last())
                    });
                    let text = std::str::from_utf8(&message.payload).unwrap();
                    let n = text.parse::<u32>().unwrap();
                    numbers.push(n);
                    // Progress: the next number this member expects.
                    count.store(n as usize + 1, Ordering::Relaxed);
                }
                (numbers, session.close_reason())
            })
        })
        .collect();

    // Remove m2 once it is receiving, keep publishing until m1 got 200 more, then close.
    at_least(&counts[1], 50).await;
    within("remove", group.remove(service_name(&members[1])))
        .await
        .expect("removal completes");
    let roster: Vec<Name> = group
        .participants()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(roster.len(), 3, "{roster:?}");
    assert!(!roster.iter().any(|n| n.same_service(members[1].name())));
    // Published from here on: encrypted for the new epoch, which m2 is not part of.
    let after_removal = published.load(Ordering::Relaxed);
    at_least(&counts[0], after_removal + 200).await;
    stop.store(true, Ordering::Relaxed);
    let total = within("publisher", publisher).await.unwrap();
    within("close", group.close()).await.unwrap();

    let mut results = Vec::new();
    for reader in readers {
        results.push(within("reader", reader).await.unwrap());
    }
    for (i, (numbers, reason)) in results.iter().enumerate() {
        assert!(!numbers.is_empty(), "member {i} got messages");
        let first = numbers[0];
        assert_eq!(
            *numbers,
            (first..first + numbers.len() as u32).collect::<Vec<_>>(),
            "member {i}: a contiguous run, in order, from its join on"
        );
        if i == 1 {
            assert_eq!(*reason, Some(CloseReason::Removed));
        } else {
            assert_eq!(*reason, Some(CloseReason::ClosedByPeer));
            assert_eq!(
                *numbers.last().unwrap(),
                total - 1,
                "member {i} got everything up to the close"
            );
        }
    }
    let removed_last = *results[1].0.last().unwrap() as usize;
    assert!(
        removed_last < after_removal,
        "the removed member got nothing published after its removal ({removed_last} >= {after_removal})"
    );
    assert!(total as usize >= after_removal + 200);
}

/// The invitation name of an application (its service, any instance).
fn service_name(app: &App) -> Name {
    name(app.name().components().unwrap()[2])
}

/// Polls `count` until it reaches `target` (bounded by the test deadline).
async fn at_least(count: &AtomicUsize, target: usize) {
    within("messages arriving", async {
        while count.load(Ordering::Relaxed) < target {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await;
}

/// Awaits an array of futures in order.
async fn futures_join<F: std::future::Future<Output = App>, const N: usize>(
    futures: [F; N],
) -> Vec<App> {
    let mut apps = Vec::with_capacity(N);
    for future in futures {
        apps.push(future.await);
    }
    apps
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_rides_out_a_short_node_restart() {
    let mut node = node();
    let moderator = app(&node, "moderator").await;
    let members: Vec<App> = futures_join(["m1", "m2"].map(|s| app(&node, s))).await;
    let group = within(
        "create",
        moderator.create_session(SessionConfig::group().with_mls(), name("restart")),
    )
    .await
    .unwrap();
    let mut sessions = Vec::new();
    for member in &members {
        let accept = tokio::spawn({
            let member = member.clone();
            async move { member.accept().await.unwrap() }
        });
        within("invite", group.invite(service_name(member)))
            .await
            .unwrap();
        sessions.push(within("accept", accept).await.unwrap());
    }
    group_rides_out_a_restart(&mut node, &moderator, &group, &sessions).await;
}
