//! Applications sharing one link (`Connection`) through a real `slim` node: sessions between
//! applications of the same connection (which the node never sees: it does not send a frame
//! back where it came from), groups spread over shared connections and own links, a member
//! leaving without taking the others' subscriptions with it, a node restart.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use slim_client::{App, CloseReason, Connection, ConnectionConfig, Session, SessionConfig};
use slim_testkit::NodeProcess;

/// A shared connection to `node` with fast redial.
async fn connection(node: &NodeProcess) -> Connection {
    let mut config = ConnectionConfig::new(node.endpoint());
    config.link.backoff = slim_transport::config::BackoffConfig::Fixed {
        interval: Duration::from_millis(100),
        max_attempts: None,
    };
    Connection::connect(config).await.expect("connection up")
}

/// An application `org/ns/<service>` on `connection`.
async fn app_on(connection: &Connection, service: &str) -> App {
    App::builder(name(service))
        .shared_secret(SECRET)
        .connection(connection)
        .connect()
        .await
        .expect("application attaches")
}

/// Invites `member` (by service name) and returns its accepted session.
async fn join(group: &Session, member: &App) -> Session {
    let accept = tokio::spawn({
        let member = member.clone();
        async move { member.accept().await.unwrap() }
    });
    within(
        "invite",
        group.invite(name(member.name().components().unwrap()[2])),
    )
    .await
    .expect("invitation completes");
    within("accept", accept).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_applications_of_one_connection_hold_a_reliable_mls_session() {
    const COUNT: u32 = 300;
    let node = node();
    let shared = connection(&node).await;
    let alice = app_on(&shared, "alice").await;
    let bob = app_on(&shared, "bob").await;

    let echo = tokio::spawn({
        let bob = bob.clone();
        async move {
            let session = bob.accept().await.unwrap();
            for _ in 0..COUNT {
                let message = session.recv().await.unwrap().unwrap();
                session.publish(message.payload).await.unwrap();
            }
            session
        }
    });
    let session = within(
        "create",
        alice.create_session(SessionConfig::point_to_point().with_mls(), name("bob")),
    )
    .await
    .expect("the handshake crosses the shared connection");
    let mut completions = Vec::new();
    for n in 0..COUNT {
        completions.push(session.publish(n.to_string()).await.unwrap());
    }
    let echoed = within("echoes", read_numbers(&session, COUNT as usize)).await;
    assert_eq!(echoed, (0..COUNT).collect::<Vec<_>>());
    for completion in completions {
        within("acknowledged", completion).await.unwrap();
    }
    let bob_session = within("echo", echo).await.unwrap();
    within("close", session.close()).await.unwrap();
    assert!(
        within("bob sees the close", bob_session.recv())
            .await
            .is_none()
    );
    assert_eq!(bob_session.close_reason(), Some(CloseReason::ClosedByPeer));

    let stats = shared.stats();
    assert!(
        stats.local >= 2 * u64::from(COUNT),
        "data and echoes stayed in the process: {stats:?}"
    );
    assert!(shared.is_connected());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_over_two_shared_connections_reaches_everyone_and_survives_a_removal() {
    const EACH: u32 = 100;
    let node = node();
    let first = connection(&node).await;
    let second = connection(&node).await;
    let moderator = app_on(&first, "moderator").await;
    let m1 = app_on(&first, "m1").await;
    let m2 = app_on(&first, "m2").await;
    let m3 = app_on(&second, "m3").await;
    let m4 = app_on(&second, "m4").await;
    let m5 = app(&node, "m5").await; // a link of its own

    let group = within(
        "create",
        moderator.create_session(SessionConfig::group().with_mls(), name("chat")),
    )
    .await
    .unwrap();
    let members = [m1.clone(), m2.clone(), m3.clone(), m4.clone(), m5.clone()];
    let mut sessions = Vec::new();
    for member in &members {
        sessions.push(join(&group, member).await);
    }

    // Everyone publishes EACH messages at once and reads everyone else's.
    let everyone: Vec<(App, Session)> = std::iter::once((moderator.clone(), group.clone()))
        .chain(members.iter().cloned().zip(sessions.iter().cloned()))
        .collect();
    everyone_publishes(&everyone, EACH).await;

    // m1 leaves; m2 shares its connection and the channel subscription, and keeps getting
    // the group's messages.
    within("remove", group.remove(name("m1"))).await.unwrap();
    assert!(
        within("m1 sees the removal", sessions[0].recv())
            .await
            .is_none()
    );
    assert_eq!(sessions[0].close_reason(), Some(CloseReason::Removed));
    for n in 0..EACH {
        group.publish(tagged(&moderator, n)).await.unwrap();
    }
    for (member, session) in members.iter().zip(&sessions).skip(1) {
        let got = within("after the removal", collect(session, EACH as usize)).await;
        assert_eq!(
            got["moderator"],
            (0..EACH).collect::<Vec<_>>(),
            "{}",
            member.name()
        );
    }
    within("close", group.close()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_one_application_leaves_the_others_on_the_connection_working() {
    let node = node();
    let shared = connection(&node).await;
    let leaving = app_on(&shared, "leaving").await;
    let staying = app_on(&shared, "staying").await;
    let caller = app(&node, "caller").await;
    within("close", leaving.close()).await;
    assert!(shared.is_connected(), "the link stays for the others");

    let echo = tokio::spawn({
        let staying = staying.clone();
        async move {
            let session = staying.accept().await.unwrap();
            let message = session.recv().await.unwrap().unwrap();
            session.publish(message.payload).await.unwrap();
            session
        }
    });
    let session = within(
        "create",
        caller.create_session(SessionConfig::point_to_point(), name("staying")),
    )
    .await
    .unwrap();
    session.publish("ping").await.unwrap();
    let reply = within("echo", session.recv()).await.unwrap().unwrap();
    assert_eq!(reply.payload, "ping");
    let _ = within("echo task", echo).await.unwrap();

    // Nobody answers for the closed application any more: an invitation finds no one.
    let refused = tokio::time::timeout(
        Duration::from_secs(30),
        caller.create_session(SessionConfig::point_to_point(), name("leaving")),
    )
    .await;
    assert!(
        !matches!(refused, Ok(Ok(_))),
        "a closed application accepted a session"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_connection_restores_every_application_after_a_node_restart() {
    let mut node = node();
    let moderator = app(&node, "moderator").await;
    let shared = connection(&node).await;
    let m1 = app_on(&shared, "m1").await;
    let m2 = app_on(&shared, "m2").await;
    let group = within(
        "create",
        moderator.create_session(SessionConfig::group().with_mls(), name("restart")),
    )
    .await
    .unwrap();
    let sessions = [join(&group, &m1).await, join(&group, &m2).await];
    // The connection redials and restores both applications' names and the channel.
    group_rides_out_a_restart(&mut node, &moderator, &group, &sessions).await;
    assert!(shared.is_connected());
}
