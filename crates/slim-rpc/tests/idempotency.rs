//! Idempotency keys through a real `slim` node: a call whose reply never reached its caller
//! (the caller gave up while the handler ran) is retried with the same key, and the handler
//! runs once; the retry gets the first run's result.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::Bytes;
use common::*;
use slim_rpc::{CallOptions, Channel, Code, RawCodec};

fn keyed(key: &str) -> CallOptions {
    CallOptions::new()
        .with_timeout(DEADLINE)
        .with_idempotency_key(key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_a_lost_reply_runs_the_handler_once() {
    let s = setup().await;
    let channel = Channel::new(s.client_app.clone(), name("server"));
    channel.connect().await.unwrap();
    let once = method("Once");
    let effects = || Observed::count(&s.observed.effects);

    // First attempt: the handler starts (400 ms of work), then the caller gives up: its
    // reply is lost to it.
    let first = {
        let channel = channel.clone();
        let once = once.clone();
        tokio::spawn(async move {
            channel
                .unary::<RawCodec>(&once, &Bytes::from("400"), &keyed("order-1"))
                .await
        })
    };
    eventually("first attempt running", || effects() == 1).await;
    first.abort();

    // The retry, while the first execution still runs: it waits for it and gets its result.
    let retry = within(
        "retry",
        channel.unary::<RawCodec>(&once, &Bytes::from("400"), &keyed("order-1")),
    )
    .await
    .unwrap();
    assert_eq!(retry, "effect 1");
    // Once it completed: replayed from the cache, no run.
    let again = channel
        .unary::<RawCodec>(&once, &Bytes::from("400"), &keyed("order-1"))
        .await
        .unwrap();
    assert_eq!(again, "effect 1");
    assert_eq!(effects(), 1, "the handler ran once for the key");

    // The same key with another request is refused; another key runs again.
    let conflict = channel
        .unary::<RawCodec>(&once, &Bytes::from("1"), &keyed("order-1"))
        .await
        .unwrap_err();
    assert_eq!(conflict.code(), Code::InvalidArgument);
    let other = channel
        .unary::<RawCodec>(&once, &Bytes::from("1"), &keyed("order-2"))
        .await
        .unwrap();
    assert_eq!(other, "effect 2");
    // Without a key every call runs.
    let plain = CallOptions::new().with_timeout(DEADLINE);
    for expected in [3, 4] {
        let reply = channel
            .unary::<RawCodec>(&once, &Bytes::from("1"), &plain)
            .await
            .unwrap();
        assert_eq!(reply, format!("effect {expected}"));
    }
    assert_eq!(effects(), 4);
}
