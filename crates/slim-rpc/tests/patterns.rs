//! The four call patterns and status codes through a real `slim` node: client and server
//! are applications in this process, each with its own connection to the node.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use futures_util::StreamExt;
use slim_rpc::{CallOptions, Channel, Code, RawCodec};

fn opts() -> CallOptions {
    CallOptions::new().with_timeout(DEADLINE)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unary_server_client_and_bidi_streaming() {
    let s = setup().await;
    let channel = Channel::new(s.client_app.clone(), name("server"));

    let reply = within(
        "unary",
        channel.unary::<RawCodec>(&method("Say"), &Bytes::from("hi"), &opts()),
    )
    .await
    .unwrap();
    assert_eq!(reply, "echo:hi");

    let mut stream = channel
        .server_streaming::<RawCodec>(&method("Count"), &Bytes::from("100"), &opts())
        .await
        .unwrap();
    let mut items = Vec::new();
    while let Some(item) = within("stream item", stream.message()).await.unwrap() {
        items.push(String::from_utf8(item.to_vec()).unwrap());
    }
    assert_eq!(items, (0..100).map(|i| i.to_string()).collect::<Vec<_>>());

    let requests = futures_util::stream::iter((0..50).map(|i| Bytes::from(format!("item-{i}"))));
    let sum = within(
        "client streaming",
        channel.client_streaming::<RawCodec, _>(&method("Sum"), requests, &opts()),
    )
    .await
    .unwrap();
    let bytes: usize = (0..50).map(|i| format!("item-{i}").len()).sum();
    assert_eq!(sum, format!("50:{bytes}"));

    // An empty request stream: the end frame carries the call's header.
    let empty = channel
        .client_streaming::<RawCodec, _>(&method("Sum"), futures_util::stream::empty(), &opts())
        .await
        .unwrap();
    assert_eq!(empty, "0:0");

    let requests = futures_util::stream::iter((0..100).map(|i| Bytes::from(format!("chat-{i}"))));
    let replies: Vec<_> = within(
        "bidi",
        channel
            .streaming::<RawCodec, _>(&method("Chat"), requests, &opts())
            .await
            .unwrap()
            .collect::<Vec<_>>(),
    )
    .await;
    let replies: Vec<Bytes> = replies.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        replies,
        (0..100)
            .map(|i| Bytes::from(format!("chat-{i}")))
            .collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_status_code_reaches_the_caller_with_its_message() {
    let s = setup().await;
    let channel = Channel::new(s.client_app.clone(), name("server"));
    for number in 1..=16 {
        let error = channel
            .unary::<RawCodec>(&method("Fail"), &Bytes::from(number.to_string()), &opts())
            .await
            .unwrap_err();
        assert_eq!(error.code().as_i32(), number, "{error}");
        assert_eq!(error.message(), format!("failure {number}"));
    }
    let unknown = channel
        .unary::<RawCodec>(
            &slim_rpc::Method::new("test.Echo", "Nope"),
            &Bytes::new(),
            &opts(),
        )
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::Unimplemented);
    assert!(unknown.message().contains("test.Echo/Nope"), "{unknown}");
    let bad = channel
        .unary::<RawCodec>(&method("Slow"), &Bytes::from("not a number"), &opts())
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    // The session survives failed calls.
    let reply = channel
        .unary::<RawCodec>(&method("Say"), &Bytes::from("ok"), &opts())
        .await;
    assert_eq!(reply.unwrap(), "echo:ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_fails_only_its_own_call() {
    let s = setup().await;
    let channel = Channel::new(s.client_app.clone(), name("server"));
    let short = CallOptions::new().with_timeout(Duration::from_millis(500));
    let status = within(
        "panicking call",
        channel.unary::<RawCodec>(&method("Panic"), &Bytes::new(), &short),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded);
    // The session's reader survived: later calls on the same session are answered.
    for i in 0..3 {
        let request = Bytes::from(format!("after-{i}"));
        let reply = within(
            "call after the panic",
            channel.unary::<RawCodec>(&method("Say"), &request, &opts()),
        )
        .await
        .unwrap();
        assert_eq!(reply, format!("echo:after-{i}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_unary_calls_share_one_session() {
    let s = setup().await;
    let channel = Channel::new(s.client_app.clone(), name("server"));
    channel.connect().await.unwrap();
    let calls = (0..100).map(|i| {
        let channel = channel.clone();
        async move {
            let request = Bytes::from(format!("parallel-{i}"));
            let reply = channel
                .unary::<RawCodec>(&method("Say"), &request, &opts())
                .await;
            (request, reply)
        }
    });
    let results = within("100 calls", futures_util::future::join_all(calls)).await;
    for (request, reply) in results {
        assert_eq!(
            reply.unwrap(),
            Bytes::from([&b"echo:"[..], &request].concat())
        );
    }
    assert_eq!(Observed::count(&s.observed.started[0]), 100);
    let sessions = s.server_app.clone();
    drop(sessions);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_thousand_item_bidirectional_stream_arrives_complete_and_in_order() {
    let s = setup().await;
    let channel = Channel::new(s.client_app.clone(), name("server"));
    const N: usize = 10_000;
    let (mut sink, mut replies) = channel
        .open_streaming::<RawCodec>(&method("Chat"), &opts())
        .await
        .unwrap();
    let sender = tokio::spawn(async move {
        for i in 0..N {
            sink.send(Bytes::from(i.to_string())).await.unwrap();
        }
        sink.close().await.unwrap();
    });
    let mut expected = 0usize;
    while let Some(item) = within("bidi item", replies.message()).await.unwrap() {
        assert_eq!(item, Bytes::from(expected.to_string()), "in order");
        expected += 1;
    }
    assert_eq!(expected, N);
    within("sender", sender).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_caller_deadline_ends_the_call_and_stops_the_handler() {
    let s = setup().await;
    let channel = Channel::new(s.client_app.clone(), name("server"));
    channel.connect().await.unwrap();
    let started = tokio::time::Instant::now();
    let error = channel
        .unary::<RawCodec>(
            &method("Hang"),
            &Bytes::new(),
            &CallOptions::new().with_timeout(Duration::from_millis(300)),
        )
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::DeadlineExceeded);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // The server stops the handler: its context is cancelled and its future dropped.
    eventually("handler cancelled", || {
        Observed::count(&s.observed.saw_cancel) == 1
    })
    .await;
    eventually("handler dropped", || {
        Observed::count(&s.observed.dropped) == 1
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_call_cancels_the_handler_on_the_server() {
    let s = setup().await;
    let channel = Channel::new(s.client_app.clone(), name("server"));
    channel.connect().await.unwrap();
    let call = {
        let channel = channel.clone();
        tokio::spawn(async move {
            channel
                .unary::<RawCodec>(&method("Hang"), &Bytes::new(), &opts())
                .await
        })
    };
    eventually("handler started", || {
        Observed::count(&s.observed.started[1]) == 1
    })
    .await;
    call.abort();
    eventually("handler saw the cancellation", || {
        Observed::count(&s.observed.saw_cancel) == 1
    })
    .await;
    eventually("handler future dropped", || {
        Observed::count(&s.observed.dropped) == 1
    })
    .await;

    // A server stream dropped half way stops its handler too, and the channel goes on.
    let mut stream = channel
        .server_streaming::<RawCodec>(&method("Count"), &Bytes::from("1000000"), &opts())
        .await
        .unwrap();
    assert_eq!(stream.message().await.unwrap().unwrap(), "0");
    stream.cancel();
    let reply = channel
        .unary::<RawCodec>(&method("Say"), &Bytes::from("after"), &opts())
        .await;
    assert_eq!(reply.unwrap(), "echo:after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_alone_stops_a_handler_at_the_wire_deadline() {
    // A raw caller that never gives up itself: only the server's clock can end the call.
    let s = setup().await;
    let session = within(
        "raw session",
        s.client_app.create_session(
            slim_client::SessionConfig::point_to_point().with_mls(),
            name("server"),
        ),
    )
    .await
    .unwrap();
    let deadline = std::time::SystemTime::now() + Duration::from_millis(300);
    let metadata = [
        ("rpc-id", "raw-call-1".to_owned()),
        ("slimrpc-dir", "req".to_owned()),
        ("service", "test.Echo".to_owned()),
        ("method", "Hang".to_owned()),
        ("slimrpc-timeout", slim_rpc::wire::encode_deadline(deadline)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let frame = slim_client::Payload {
        blob: Bytes::new(),
        payload_type: Some("msg".to_owned()),
        metadata,
    };
    session.publish(frame).await.unwrap();
    let end = within("the server's answer", session.recv())
        .await
        .expect("session open")
        .expect("a message");
    assert_eq!(end.context.metadata.get("rpc-id").unwrap(), "raw-call-1");
    assert_eq!(
        end.context.metadata.get("slimrpc-code").map(String::as_str),
        Some("4"),
        "DEADLINE_EXCEEDED"
    );
    assert!(std::time::SystemTime::now() >= deadline);
    eventually("handler cancelled", || {
        Observed::count(&s.observed.saw_cancel) == 1
    })
    .await;
    eventually("handler dropped", || {
        Observed::count(&s.observed.dropped) == 1
    })
    .await;
}
