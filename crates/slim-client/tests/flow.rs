//! Flow control through a real `slim` node process: an unpaced publisher and a slow reader.
//! Nothing is lost, nothing stalls for good, and what is between them stays bounded by the
//! configured windows and buffers (checked as a count, not a time).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use slim_client::{AppConfig, SessionConfig};

const MESSAGES: usize = 20_000;
const WINDOW: u32 = 64;
const RECEIVE_BUFFER: usize = 128;
const SESSION_BUFFER: usize = 32;
const PUBLISH_QUEUE: usize = 32;

fn small_buffers(config: &mut AppConfig) {
    config.layer.window = WINDOW;
    config.layer.receive_buffer = RECEIVE_BUFFER;
    config.session_buffer = SESSION_BUFFER;
    config.publish_queue = PUBLISH_QUEUE;
}

/// Largest number of messages that may be published but not yet read: the publish queue,
/// the sender's window, the receiver's buffer and session channel, plus the receiver's
/// reorder range (2 × window) that can become deliverable at once.
fn bound() -> usize {
    PUBLISH_QUEUE + WINDOW as usize + RECEIVE_BUFFER + SESSION_BUFFER + 2 * WINDOW as usize
}

async fn run(mls: bool) {
    let node = node();
    let alice = app_with(&node, "alice", small_buffers).await;
    let bob = app_with(&node, "bob", small_buffers).await;
    let accept = tokio::spawn({
        let bob = bob.clone();
        async move { bob.accept().await.unwrap() }
    });
    let mut config = SessionConfig::point_to_point();
    if mls {
        config = config.with_mls();
    }
    let session = within("setup", alice.create_session(config, name("bob")))
        .await
        .unwrap();
    let bob_session = within("accept", accept).await.unwrap();

    let published = Arc::new(AtomicUsize::new(0));
    let read = Arc::new(AtomicUsize::new(0));
    let max_ahead = Arc::new(AtomicUsize::new(0));
    // The reader is slow: it yields to the scheduler after every message and pauses 1 ms
    // every 100 (a busy agent); the publisher never waits by itself.
    let reader = tokio::spawn({
        let read = read.clone();
        async move {
            let mut numbers = Vec::with_capacity(MESSAGES);
            while numbers.len() < MESSAGES {
                let message = bob_session
                    .recv()
                    .await
                    .expect("open")
                    .expect("nothing lost");
                numbers.push(u32::from_be_bytes(message.payload[..].try_into().unwrap()));
                read.fetch_add(1, Ordering::Relaxed);
                tokio::task::yield_now().await;
                if numbers.len().is_multiple_of(100) {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            numbers
        }
    });
    let publisher = tokio::spawn({
        let session = session.clone();
        let published = published.clone();
        let read = read.clone();
        let max_ahead = max_ahead.clone();
        async move {
            let mut last = None;
            for n in 0..MESSAGES as u32 {
                last = Some(session.publish(n.to_be_bytes().to_vec()).await.unwrap());
                let done = published.fetch_add(1, Ordering::Relaxed) + 1;
                let ahead = done.saturating_sub(read.load(Ordering::Relaxed));
                max_ahead.fetch_max(ahead, Ordering::Relaxed);
            }
            last.unwrap()
                .await
                .expect("the last message is acknowledged");
        }
    });
    within("publisher", publisher).await.unwrap();
    let numbers = within("reader", reader).await.unwrap();
    assert_eq!(numbers, (0..MESSAGES as u32).collect::<Vec<_>>());
    let ahead = max_ahead.load(Ordering::Relaxed);
    assert!(
        ahead <= bound(),
        "the publisher ran {ahead} messages ahead of the reader (bound {})",
        bound()
    );
    assert!(
        ahead > WINDOW as usize,
        "the reader was slow enough to push back ({ahead} ahead)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpaced_publisher_and_a_slow_reader_lose_nothing_and_stay_bounded() {
    run(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_with_mls() {
    run(true).await;
}
