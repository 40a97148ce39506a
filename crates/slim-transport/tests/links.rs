//! Real links over loopback: frames both ways, batching, Unix sockets, post-quantum keys,
//! peer refusals, reconnection and back-pressure.

// A test crate: helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use slim_transport::negotiate::ConnectionType;
use slim_transport::{ClientConfig, Direction, LinkEnd, OutFrame, QuickAck, ServerConfig, dial};

#[tokio::test]
async fn frames_cross_a_signed_link_in_both_directions() {
    let mut server = TestServer::plain().await;
    let client = dial_edge(
        &ClientConfig::with_endpoint(&server.endpoint),
        &node("client"),
    )
    .await;
    let mut accepted = server.accept().await;

    assert_eq!(client.info.link_id, accepted.info.link_id);
    assert_eq!(client.info.direction, Direction::Dialed);
    assert_eq!(accepted.info.direction, Direction::Accepted);
    assert_eq!(accepted.info.connection_type, ConnectionType::Edge);
    assert_eq!(accepted.info.peer.node_id, "client");
    assert_eq!(client.info.peer.node_id, "server");
    assert!(client.info.signed && accepted.info.signed);

    client
        .sender
        .send(OutFrame::as_is(publish(b"ping")))
        .await
        .unwrap();
    let got = accepted.receiver.recv().await.unwrap();
    // The strict receiver only delivers it because the MAC verified.
    assert!(got.header_mac().is_some());
    assert_eq!(payload_of(&got), "ping");

    // The TTL chosen by the sender is what arrives (and what the MAC covered).
    accepted
        .sender
        .send(OutFrame {
            frame: publish(b"pong"),
            ttl: 3,
        })
        .await
        .unwrap();
    let mut client = client;
    let back = client.receiver.recv().await.unwrap();
    assert_eq!(payload_of(&back), "pong");
    assert_eq!(back.ttl(), 3);
    assert_eq!(client.receiver.dropped(), 0);
}

#[tokio::test]
async fn a_burst_arrives_complete_and_in_order() {
    let mut server = TestServer::plain().await;
    let client = dial_edge(
        &ClientConfig::with_endpoint(&server.endpoint),
        &node("client"),
    )
    .await;
    let mut accepted = server.accept().await;
    const COUNT: u64 = 20_000;
    let sender = client.sender.clone();
    let producer = tokio::spawn(async move {
        for id in 1..=COUNT {
            let ack = slim_wire::builders::subscription_ack(id, None);
            let frame = slim_wire::Frame::from_message(&ack).unwrap();
            sender.send(OutFrame::as_is(frame)).await.unwrap();
        }
    });
    let mut next = 1;
    let mut batch = Vec::new();
    let mut batches = 0;
    while next <= COUNT {
        batch.clear();
        accepted.receiver.recv_batch(&mut batch, 512).await.unwrap();
        batches += 1;
        for frame in &batch {
            assert_eq!(frame.subscription_id(), next);
            next += 1;
        }
    }
    producer.await.unwrap();
    // Batching is a performance property; only check it happened at all.
    assert!(batches < COUNT, "every frame arrived alone");
}

#[tokio::test]
async fn unix_socket_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("slim.sock");
    let endpoint = format!("unix://{}", path.display());
    let mut server =
        TestServer::start(ServerConfig::with_endpoint(&endpoint), node("server")).await;
    assert_eq!(server.endpoint, endpoint);
    let client = dial_edge(&ClientConfig::with_endpoint(&endpoint), &node("client")).await;
    let mut accepted = server.accept().await;
    carries(&client, &mut accepted, b"over unix").await;
}

#[tokio::test]
async fn post_quantum_dialer_gets_a_hybrid_key() {
    let mut server = TestServer::plain().await;
    let mut local = node("client");
    local.post_quantum = true;
    let client = dial_edge(&ClientConfig::with_endpoint(&server.endpoint), &local).await;
    let mut accepted = server.accept().await;
    assert!(client.info.hybrid && accepted.info.hybrid);
    carries(&client, &mut accepted, b"pq").await;
}

#[tokio::test]
async fn peer_links_to_self_or_another_deployment_are_refused_for_good() {
    let server = TestServer::plain().await;
    let config = ClientConfig::with_endpoint(&server.endpoint);

    let error = dial(&config, &node("server"), ConnectionType::Peer)
        .await
        .unwrap_err();
    assert!(error.is_fatal(), "{error}");

    let mut foreign = node("other");
    foreign.deployment_name = "elsewhere".into();
    let error = dial(&config, &foreign, ConnectionType::Peer)
        .await
        .unwrap_err();
    assert!(error.is_fatal(), "{error}");
    assert!(error.to_string().contains("elsewhere"), "{error}");

    // The same node as an edge client is fine.
    dial(&config, &node("other"), ConnectionType::Edge)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_closed_sender_ends_the_other_side_cleanly() {
    let mut server = TestServer::plain().await;
    let client = dial_edge(
        &ClientConfig::with_endpoint(&server.endpoint),
        &node("client"),
    )
    .await;
    let mut accepted = server.accept().await;
    drop(client);
    let end = tokio::time::timeout(Duration::from_secs(10), accepted.receiver.recv())
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(end, LinkEnd::Closed | LinkEnd::Failed(_)), "{end}");
}

#[tokio::test]
async fn reconnect_redials_after_the_link_drops() {
    let mut server = TestServer::plain().await;
    let mut config = ClientConfig::with_endpoint(&server.endpoint);
    config.backoff = slim_transport::config::BackoffConfig::Fixed {
        interval: Duration::from_millis(50),
        max_attempts: None,
    };
    let (sessions_tx, mut sessions) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::spawn(slim_transport::reconnect(
        config,
        node("client"),
        ConnectionType::Edge,
        move |mut link| {
            let sessions_tx = sessions_tx.clone();
            async move {
                let _ = sessions_tx.send(link.info.link_id.clone());
                // Run until the link ends.
                while link.receiver.recv().await.is_ok() {}
            }
        },
    ));
    let first = server.accept().await;
    let first_id = sessions.recv().await.unwrap();
    assert_eq!(first.info.link_id, first_id);
    drop(first); // the server side closes this link
    let second = server.accept().await;
    let second_id = sessions.recv().await.unwrap();
    assert_eq!(second.info.link_id, second_id);
    assert_ne!(first_id, second_id, "a new link gets a new random id");
    task.abort();
}

#[tokio::test]
async fn an_unread_link_stops_its_sender_instead_of_buffering_without_bound() {
    let mut server = TestServer::plain().await;
    let mut config = ClientConfig::with_endpoint(&server.endpoint);
    config.queue_capacity = 64;
    let client = dial(&config, &node("client"), ConnectionType::Edge)
        .await
        .unwrap();
    // Accept but never read.
    let _accepted = server.accept().await;
    // Each frame is ~4 KiB; the HTTP/2 windows (8 MiB connection) plus both queues hold a
    // few thousand at most. If nothing pushed back, all 100 000 (400 MB) would be accepted.
    let payload: &'static [u8] = Box::leak(vec![7u8; 4096].into_boxed_slice());
    let frame = publish(payload);
    let mut accepted_frames = 0u32;
    let mut stalled = false;
    for _ in 0..100_000 {
        match tokio::time::timeout(
            Duration::from_millis(500),
            client.sender.send(OutFrame::as_is(frame.clone())),
        )
        .await
        {
            Ok(Ok(())) => accepted_frames += 1,
            Ok(Err(closed)) => panic!("link closed: {closed}"),
            Err(_) => {
                stalled = true;
                break;
            }
        }
    }
    assert!(
        stalled,
        "sender never waited ({accepted_frames} frames queued)"
    );
    assert!(
        accepted_frames < 10_000,
        "{accepted_frames} frames buffered"
    );
}

#[tokio::test]
async fn two_of_our_ends_settle_auto_quick_acks_off_and_forced_ones_stay_on() {
    let mut server = TestServer::plain().await;
    let client = dial_edge(
        &ClientConfig::with_endpoint(&server.endpoint),
        &node("client"),
    )
    .await;
    let accepted = server.accept().await;
    assert!(client.info.peer.nodelay && accepted.info.peer.nodelay);
    assert!(!client.info.quick_acks && !accepted.info.quick_acks);

    let mut config = ServerConfig::with_endpoint("127.0.0.1:0");
    config.tcp_quickack = QuickAck::Always;
    let mut forced = TestServer::start(config, node("server")).await;
    let client = dial_edge(
        &ClientConfig {
            tcp_quickack: QuickAck::Always,
            ..ClientConfig::with_endpoint(&forced.endpoint)
        },
        &node("client"),
    )
    .await;
    assert!(client.info.quick_acks && forced.accept().await.info.quick_acks);
}

#[tokio::test]
async fn a_quick_ack_link_carries_frames_both_ways() {
    let mut config = ServerConfig::with_endpoint("127.0.0.1:0");
    config.tcp_quickack = QuickAck::Always;
    let mut server = TestServer::start(config, node("server")).await;
    let config = ClientConfig {
        tcp_quickack: QuickAck::Always,
        ..ClientConfig::with_endpoint(&server.endpoint)
    };
    let mut client = dial_edge(&config, &node("client")).await;
    let mut accepted = server.accept().await;
    assert!(client.info.quick_acks && accepted.info.quick_acks);
    // Ping-pong: each side's small write waits for the other's answer, the exchange a
    // quick-ack socket exists for.
    for _ in 0..50 {
        client
            .sender
            .send(OutFrame::as_is(publish(b"ping")))
            .await
            .unwrap();
        assert_eq!(payload_of(&accepted.receiver.recv().await.unwrap()), "ping");
        accepted
            .sender
            .send(OutFrame::as_is(publish(b"pong")))
            .await
            .unwrap();
        assert_eq!(payload_of(&client.receiver.recv().await.unwrap()), "pong");
    }
}
