//! Point-to-point sessions between applications in this process, through a real `slim`
//! node process: reliable with MLS, 1000 messages each way in order; the close reaches the
//! peer; fire-and-forget; a short node restart; acknowledgements held for an answer go out
//! with it, or as soon as the reader waits.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use slim_client::{CloseReason, MessageContext, Role, Session, SessionConfig, SessionKind};

/// Accepts one session and echoes every message back with a normal publish until closed.
async fn echo_one(app: slim_client::App) -> (Session, usize) {
    let session = app.accept().await.expect("a session arrives");
    let mut echoed = 0;
    while let Some(delivery) = session.recv().await {
        let message = delivery.expect("no message lost");
        session.publish_detached(message.payload).await.unwrap();
        echoed += 1;
    }
    (session, echoed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reliable_mls_session_carries_1000_messages_each_way_in_order() {
    let node = node();
    let alice = app(&node, "alice").await;
    let bob = app(&node, "bob").await;
    let responder = tokio::spawn(echo_one(bob.clone()));

    let session = within(
        "session setup",
        alice.create_session(SessionConfig::point_to_point().with_mls(), name("bob")),
    )
    .await
    .expect("handshake completes");
    assert_eq!(session.kind(), SessionKind::PointToPoint);
    assert_eq!(session.role(), Role::Moderator);
    assert!(session.config().mls.is_some() && session.config().is_reliable());
    assert!(session.destination().same_service(&name("bob")));
    assert!(
        !session.destination().id().is_any(),
        "bound to bob's instance"
    );

    let reader = {
        let session = session.clone();
        tokio::spawn(async move { read_numbers(&session, 1000).await })
    };
    let mut completions = Vec::new();
    for n in 0..1000u32 {
        completions.push(session.publish(n.to_string()).await.unwrap());
    }
    for completion in completions {
        within("acknowledgement", completion)
            .await
            .expect("acknowledged");
    }
    let echoes = within("echoes", reader).await.unwrap();
    assert_eq!(echoes, (0..1000).collect::<Vec<_>>());

    within("close", session.close()).await.unwrap();
    assert_eq!(session.close_reason(), Some(CloseReason::Local));
    let (bob_session, echoed) = within("responder end", responder).await.unwrap();
    assert_eq!(echoed, 1000);
    assert_eq!(bob_session.close_reason(), Some(CloseReason::ClosedByPeer));
    assert_eq!(bob_session.role(), Role::Participant);
    assert!(
        bob_session.config().mls.is_some(),
        "bob adopted MLS from the join request"
    );
    alice.close().await;
    bob.close().await;
}

/// The longest an acknowledgement may be held in `acks_are_sent_when_the_reader_waits_or_answers`:
/// long enough that only the reader waiting or answering can release it in time.
const LONG_ACK_DELAY: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_are_sent_when_the_reader_waits_or_answers() {
    const ROUNDS: u64 = 10;
    let node = node();
    let patient = |config: &mut slim_client::AppConfig| config.layer.ack_delay = LONG_ACK_DELAY;
    let alice = app_with(&node, "alice", patient).await;
    let bob = app_with(&node, "bob", patient).await;
    // A cap of a quarter of the interval must not shorten the delay under test.
    let reliability = Some(slim_client::Retries::new(LONG_ACK_DELAY * 4, 3));
    let responder = tokio::spawn(async move {
        let session = bob.accept().await.expect("a session arrives");
        while let Some(delivery) = session.recv().await {
            let message = delivery.expect("no message lost");
            if message.payload.starts_with(b"echo") {
                session.publish_detached(message.payload).await.unwrap();
            }
        }
    });
    let session = within(
        "session setup",
        alice.create_session(
            SessionConfig::point_to_point().with_reliability(reliability),
            name("bob"),
        ),
    )
    .await
    .expect("handshake completes");

    for n in 0..ROUNDS {
        // Bob reads it and waits for more: its driver is told, and sends the ack.
        let quiet = session.publish(format!("quiet {n}")).await.unwrap();
        within("ack of a message read", quiet).await.expect("acked");
        // Bob answers: the ack travels with the answer.
        let echo = session.publish(format!("echo {n}")).await.unwrap();
        let answer = within("answer", session.recv()).await.expect("open");
        assert_eq!(
            answer.expect("no loss").payload,
            format!("echo {n}").as_bytes()
        );
        within("ack of an answered message", echo)
            .await
            .expect("acked");
    }
    // Had the acks waited for their deadline, every message would have been acknowledged
    // only after alice's retransmission timeout sent it again (bob acks a duplicate at once).
    // A loaded machine may still let a few acks lose that race.
    let retransmissions = alice.stats().await.unwrap().retransmissions;
    assert!(
        retransmissions < ROUNDS,
        "{retransmissions} retransmissions for {} messages",
        2 * ROUNDS
    );
    within("close", session.close()).await.unwrap();
    within("responder end", responder).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fire_and_forget_with_mls_delivers_in_order_on_a_quiet_network() {
    let node = node();
    let alice = app(&node, "alice").await;
    let bob = app(&node, "bob").await;
    let accept = tokio::spawn({
        let bob = bob.clone();
        async move { bob.accept().await.unwrap() }
    });
    let config = SessionConfig::point_to_point()
        .with_reliability(None)
        .with_mls();
    let session = within("setup", alice.create_session(config, name("bob")))
        .await
        .unwrap();
    let bob_session = within("accept", accept).await.unwrap();
    assert!(!bob_session.config().is_reliable());
    for n in 0..500u32 {
        session.publish(n.to_string()).await.unwrap().await.unwrap();
    }
    let got = within("delivery", read_numbers(&bob_session, 500)).await;
    assert_eq!(got, (0..500).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_with_publish_to_reach_the_sender_and_metadata_travels() {
    let node = node();
    let alice = app(&node, "alice").await;
    let bob = app(&node, "bob").await;
    let server = tokio::spawn({
        let bob = bob.clone();
        async move {
            let session = bob.accept().await.unwrap();
            let message = session.recv().await.unwrap().unwrap();
            let context: std::sync::Arc<MessageContext> = message.context.clone();
            let reply = slim_client::Payload::new(format!(
                "re:{}",
                std::str::from_utf8(&message.payload).unwrap()
            ))
            .with_metadata("trace", context.metadata["trace"].clone());
            session
                .publish_to(&context.source, reply)
                .await
                .unwrap()
                .await
                .unwrap();
            context
        }
    });
    let session = within(
        "setup",
        alice.create_session(SessionConfig::point_to_point().with_mls(), name("bob")),
    )
    .await
    .unwrap();
    let question = slim_client::Payload::new("q")
        .with_type("text/plain")
        .with_metadata("trace", "t-1");
    session.publish(question).await.unwrap().await.unwrap();
    let context = within("server", server).await.unwrap();
    assert_eq!(context.payload_type, "text/plain");
    assert_eq!(context.source, *alice.name());
    let answer = within("answer", session.recv()).await.unwrap().unwrap();
    assert_eq!(answer.payload, "re:q");
    assert_eq!(
        answer.context.metadata.get("trace").map(String::as_str),
        Some("t-1")
    );
    assert_eq!(answer.context.source, *bob.name());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_rides_out_a_short_node_restart() {
    let mut node = node();
    let alice = app(&node, "alice").await;
    let bob = app(&node, "bob").await;
    let accept = tokio::spawn({
        let bob = bob.clone();
        async move { bob.accept().await.unwrap() }
    });
    let session = within(
        "setup",
        alice.create_session(SessionConfig::point_to_point().with_mls(), name("bob")),
    )
    .await
    .unwrap();
    let bob_session = within("accept", accept).await.unwrap();
    for n in 0..100u32 {
        session.publish_detached(n.to_string()).await.unwrap();
    }
    assert_eq!(
        within("before restart", read_numbers(&bob_session, 100)).await,
        (0..100).collect::<Vec<_>>()
    );

    node.restart().expect("node restarts on the same port");
    // Published while the node is away or the apps are still redialing: retransmissions
    // deliver them once both are back and subscribed again.
    let mut completions = Vec::new();
    for n in 100..200u32 {
        completions.push(session.publish(n.to_string()).await.unwrap());
    }
    assert_eq!(
        within("after restart", read_numbers(&bob_session, 100)).await,
        (100..200).collect::<Vec<_>>()
    );
    for completion in completions {
        within("acknowledged", completion).await.unwrap();
    }
    assert!(alice.is_connected() && bob.is_connected());
    assert!(!session.is_closed() && !bob_session.is_closed());
    // The session still works both ways.
    bob_session.publish("back").await.unwrap().await.unwrap();
    let back = within("reverse", session.recv()).await.unwrap().unwrap();
    assert_eq!(back.payload, "back");
}
