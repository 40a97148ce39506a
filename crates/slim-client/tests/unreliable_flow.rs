//! Back-pressure for fire-and-forget sessions through a real `slim` node process.
//!
//! A fire-and-forget session has no acknowledgements to slow its sender down: the receiving
//! driver must stop reading its link while the session's buffer is full, so that the node
//! holds the sender back. These tests check that nothing is lost when the receiver is slower
//! than the sender, and that a receiver which stops reading one session can still publish on
//! another meanwhile.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use slim_client::{AppConfig, Session, SessionConfig};

const RECEIVE_BUFFER: usize = 128;
const SESSION_BUFFER: usize = 32;

/// Small buffers, so that a slow reader fills them after a few hundred messages.
fn small_buffers(config: &mut AppConfig) {
    config.layer.receive_buffer = RECEIVE_BUFFER;
    config.session_buffer = SESSION_BUFFER;
    config.publish_queue = 32;
}

fn fire_and_forget() -> SessionConfig {
    SessionConfig::point_to_point().with_reliability(None)
}

/// Publishes `0..count` as big-endian numbers, unpaced, counting them in `published`.
async fn publish_numbers(session: Session, count: u32, published: Arc<AtomicUsize>) {
    for n in 0..count {
        session
            .publish_detached(n.to_be_bytes().to_vec())
            .await
            .expect("publish");
        published.fetch_add(1, Ordering::Relaxed);
    }
}

/// Reads `count` numbers and checks each is the next one: a loss fails at the gap.
async fn expect_numbers(session: &Session, count: u32, slow: bool) {
    for expected in 0..count {
        let message = session
            .recv()
            .await
            .expect("session open")
            .expect("a message, not a loss");
        let n = u32::from_be_bytes(message.payload[..].try_into().unwrap());
        assert_eq!(n, expected, "messages lost or out of order");
        if slow {
            // A busy application: yields after every message, pauses 1 ms every 100.
            tokio::task::yield_now().await;
            if n % 100 == 99 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
}

/// `alice` opens a fire-and-forget session to `bob`, who accepts it.
async fn session_pair(
    alice: &slim_client::App,
    bob: &slim_client::App,
    bob_name: &str,
) -> (Session, Session) {
    let accept = tokio::spawn({
        let bob = bob.clone();
        async move { bob.accept().await.unwrap() }
    });
    let session = within(
        "setup",
        alice.create_session(fire_and_forget(), name(bob_name)),
    )
    .await
    .unwrap();
    let accepted = within("accept", accept).await.unwrap();
    (session, accepted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_of_a_fire_and_forget_session_loses_nothing() {
    const MESSAGES: u32 = 20_000;
    let node = node();
    let alice = app_with(&node, "alice", small_buffers).await;
    let bob = app_with(&node, "bob", small_buffers).await;
    let (sender, receiver) = session_pair(&alice, &bob, "bob").await;

    let published = Arc::new(AtomicUsize::new(0));
    let publisher = tokio::spawn(publish_numbers(sender, MESSAGES, published.clone()));
    within("slow reader", expect_numbers(&receiver, MESSAGES, true)).await;
    within("publisher", publisher).await.unwrap();
    assert_eq!(published.load(Ordering::Relaxed), MESSAGES as usize);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_publishes_on_one_session_while_not_reading_a_full_one() {
    const FLOOD: u32 = 5_000;
    const REPLIES: u32 = 2_000;
    let node = node();
    let alice = app_with(&node, "alice", small_buffers).await;
    let bob = app_with(&node, "bob", small_buffers).await;
    // Alice floods bob on one session; bob publishes to alice on another.
    let (flood, flooded) = session_pair(&alice, &bob, "bob").await;
    let (replies, replied) = session_pair(&bob, &alice, "alice").await;

    let published = Arc::new(AtomicUsize::new(0));
    let flooder = tokio::spawn(publish_numbers(flood, FLOOD, published.clone()));
    // Bob does not read the flooded session until its buffers are full many times over
    // (what alice published beyond them is held by the node and alice's link)...
    let full = RECEIVE_BUFFER + SESSION_BUFFER;
    within("the flood fills bob's buffers", async {
        while published.load(Ordering::Relaxed) < 4 * full {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    // ...and meanwhile publishes on the other session, which alice reads.
    let reader = tokio::spawn(async move { expect_numbers(&replied, REPLIES, false).await });
    within(
        "bob publishes while not reading",
        publish_numbers(replies, REPLIES, Arc::new(AtomicUsize::new(0))),
    )
    .await;
    within("alice reads bob's messages", reader).await.unwrap();
    // Then bob reads the flood: nothing lost.
    within(
        "bob reads the flood",
        expect_numbers(&flooded, FLOOD, false),
    )
    .await;
    within("flooder", flooder).await.unwrap();
}
