//! The server's own HTTP/2 handling: what tonic's server did for us before the data plane
//! was served with `h2` directly (unknown methods, keepalive), checked from the outside.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use slim_transport::{ClientConfig, OutFrame, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn any_other_method_is_unimplemented() {
    let server = TestServer::plain().await;
    let channel = tonic::transport::Endpoint::from_shared(server.endpoint.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let status = grpc
        .unary(
            tonic::Request::new(Bytes::from_static(b"x")),
            http::uri::PathAndQuery::from_static("/dataplane.proto.v1.DataPlaneService/Other"),
            RawCodec,
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unimplemented, "{status}");
}

fn keepalive_config(interval: Duration, timeout: Duration) -> ServerConfig {
    let mut config = ServerConfig::with_endpoint("127.0.0.1:0");
    config.keepalive.time = interval;
    config.keepalive.timeout = timeout;
    config
}

#[tokio::test]
async fn a_connection_that_answers_keepalive_pings_stays_open() {
    let interval = Duration::from_millis(20);
    let mut server = TestServer::start(keepalive_config(interval, interval), node("server")).await;
    let client = dial_edge(
        &ClientConfig::with_endpoint(&server.endpoint),
        &node("client"),
    )
    .await;
    let mut accepted = server.accept().await;
    // Many PING rounds; the client's HTTP/2 stack answers each one.
    tokio::time::sleep(interval * 15).await;
    client
        .sender
        .send(OutFrame::as_is(publish(b"still here")))
        .await
        .unwrap();
    let frame = tokio::time::timeout(Duration::from_secs(10), accepted.receiver.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(payload_of(&frame), "still here");
}

#[tokio::test]
async fn a_peer_that_never_answers_pings_is_disconnected() {
    let interval = Duration::from_millis(50);
    let server = TestServer::start(keepalive_config(interval, interval), node("server")).await;
    let address = server.endpoint.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    // The client preface and an empty SETTINGS frame; then silence: no acks, no PONGs.
    socket
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    let mut sink = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match socket.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server kept a silent connection open");
}
