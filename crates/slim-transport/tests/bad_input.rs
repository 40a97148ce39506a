//! What a misbehaving or foreign peer can do to a server, driven through a raw gRPC stream
//! that speaks prost-encoded messages (and arbitrary bytes): every case is refused or
//! dropped with a reason, and other links keep working.

// A test crate: helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use prost::Message as _;
use slim_transport::mac::{HeaderMac, MacKey};
use slim_transport::negotiate::{ClientHandshake, ClientLinkParams, ConnectionType};
use slim_transport::{ClientConfig, Link, OutFrame, ServerConfig};
use slim_wire::mac::MacInput;
use slim_wire::proto;

fn handshake(require_header_mac: bool) -> ClientHandshake {
    ClientHandshake::new(
        ClientLinkParams {
            link_id: None,
            connection_type: ConnectionType::Edge,
            node_id: "raw".into(),
            deployment_name: "test".into(),
            post_quantum: false,
            require_header_mac,
        },
        &mut rand_core::OsRng,
    )
}

/// A raw peer that completed the negotiation, with the MAC key it derived.
async fn negotiated_raw_peer(server: &mut TestServer) -> (RawPeer, HeaderMac, Link) {
    let handshake = handshake(true);
    let mut peer = raw_open(&server.endpoint, vec![encode(&handshake.request())])
        .await
        .unwrap();
    let reply = peer.rx.message().await.unwrap().unwrap();
    let reply = proto::Message::decode(reply).unwrap();
    let negotiated = handshake.finish(&reply).unwrap();
    let key: MacKey = negotiated.mac_key.unwrap();
    let accepted = server.accept().await;
    (peer, key.header_mac(), accepted)
}

/// A raw peer that sent `request` first, and the negotiation payload the server answered.
async fn open_with(
    endpoint: &str,
    request: &proto::Message,
) -> (RawPeer, proto::LinkNegotiationPayload) {
    let mut peer = raw_open(endpoint, vec![encode(request)]).await.unwrap();
    let reply = proto::Message::decode(peer.rx.message().await.unwrap().unwrap()).unwrap();
    let payload = slim_transport::negotiate::payload_of(&reply)
        .unwrap()
        .clone();
    (peer, payload)
}

fn negotiation_mut(message: &mut proto::Message) -> &mut proto::LinkNegotiationPayload {
    match message.message_type.as_mut() {
        Some(proto::message::MessageType::Link(proto::Link {
            link_type: Some(proto::link::LinkType::LinkNegotiation(payload)),
        })) => payload,
        _ => panic!("not a negotiation message"),
    }
}

fn header_mut(message: &mut proto::Message) -> &mut proto::SlimHeader {
    match message.message_type.as_mut() {
        Some(proto::message::MessageType::Publish(p)) => p.header.as_mut().unwrap(),
        _ => panic!("not a publish"),
    }
}

/// Signs a prost message the way any implementation would: over the header as encoded.
fn sign(mac: &mut HeaderMac, mut message: proto::Message) -> proto::Message {
    let header = header_mut(&mut message);
    header.header_mac = None;
    let tag = mac.sign(&MacInput::from_proto(header));
    header.header_mac = Some(Bytes::copy_from_slice(&tag));
    message
}

#[tokio::test]
async fn prost_encoded_peer_interoperates_in_both_directions() {
    let mut server = TestServer::plain().await;
    let (mut peer, mut mac, mut accepted) = negotiated_raw_peer(&mut server).await;

    // Peer -> server: a prost-encoded, signed publish is accepted as a frame.
    let message = sign(&mut mac, publish_message(b"from prost"));
    peer.tx.send(encode(&message)).await.unwrap();
    let frame = accepted.receiver.recv().await.unwrap();
    assert_eq!(payload_of(&frame), "from prost");
    assert_eq!(frame.decode().unwrap(), message);

    // Server -> peer: the frame encoder's output decodes with prost and its MAC verifies
    // over the prost header.
    accepted
        .sender
        .send(OutFrame {
            frame: publish(b"to prost"),
            ttl: 5,
        })
        .await
        .unwrap();
    let bytes = peer.rx.message().await.unwrap().unwrap();
    let mut message = proto::Message::decode(bytes).unwrap();
    let header = header_mut(&mut message);
    assert_eq!(header.ttl, 5);
    let tag = header.header_mac.take().expect("signed");
    assert_eq!(tag.as_ref(), mac.sign(&MacInput::from_proto(header)));
}

#[tokio::test]
async fn a_peer_that_does_not_announce_nodelay_is_acknowledged_at_once() {
    // Upstream's applications and nodes leave Nagle on and know nothing of field 48.
    let mut server = TestServer::plain().await;
    let handshake = handshake(true);
    let mut request = handshake.request();
    negotiation_mut(&mut request).tcp_nodelay = false;
    let (_peer, reply) = open_with(&server.endpoint, &request).await;
    assert!(
        reply.tcp_nodelay,
        "the server announces its own TCP_NODELAY"
    );
    let accepted = server.accept().await;
    assert!(!accepted.info.peer.nodelay);
    assert!(accepted.info.quick_acks);
}

#[tokio::test]
async fn strict_server_refuses_an_unsigned_peer_and_lenient_one_accepts_it() {
    let handshake = handshake(false);
    let mut request = handshake.request();
    negotiation_mut(&mut request).link_ecdh_public_key = Bytes::new();

    let strict = TestServer::plain().await;
    let status = refusal(raw_open(&strict.endpoint, vec![encode(&request)]).await).await;
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().contains("X25519"), "{status:?}");

    let mut config = ServerConfig::with_endpoint("127.0.0.1:0");
    config.require_header_mac = false;
    let mut lenient = TestServer::start(config, node("server")).await;
    // The reply still comes (a legacy peer would ignore its key); the link is unsigned.
    let (peer, reply) = open_with(&lenient.endpoint, &request).await;
    assert!(reply.is_reply);
    let mut accepted = lenient.accept().await;
    assert!(!accepted.info.signed);
    peer.tx
        .send(encode(&publish_message(b"unsigned")))
        .await
        .unwrap();
    assert_eq!(
        payload_of(&accepted.receiver.recv().await.unwrap()),
        "unsigned"
    );
}

#[tokio::test]
async fn first_message_must_be_a_negotiation() {
    let server = TestServer::plain().await;
    let status =
        refusal(raw_open(&server.endpoint, vec![encode(&publish_message(b"hi"))]).await).await;
    assert_eq!(status.code(), tonic::Code::InvalidArgument);

    let status =
        refusal(raw_open(&server.endpoint, vec![Bytes::from_static(&[0xff, 0xff])]).await).await;
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
}

#[tokio::test]
async fn a_silent_peer_is_cut_after_the_timeout_while_others_work() {
    let mut config = ServerConfig::with_endpoint("127.0.0.1:0");
    config.negotiation_timeout_secs = 1;
    let mut server = TestServer::start(config, node("server")).await;

    let endpoint = server.endpoint.clone();
    let silent = tokio::spawn(async move { refusal(raw_open(&endpoint, vec![]).await).await });

    // A well-behaved link on the same server works while the silent one hangs.
    let client = dial_edge(
        &ClientConfig::with_endpoint(&server.endpoint),
        &node("client"),
    )
    .await;
    let mut accepted = server.accept().await;
    carries(&client, &mut accepted, b"still fine").await;

    let status = tokio::time::timeout(Duration::from_secs(20), silent)
        .await
        .expect("silent peer was not cut")
        .unwrap();
    assert_eq!(status.code(), tonic::Code::DeadlineExceeded);
}

#[tokio::test]
async fn invalid_frames_are_dropped_and_counted_and_the_link_survives() {
    let mut server = TestServer::plain().await;
    let (peer, mut mac, mut accepted) = negotiated_raw_peer(&mut server).await;

    let garbage = Bytes::from_static(&[0xff, 0xff, 0xff]);
    // Field 7 (an arm this version does not know), empty.
    let unknown_type = Bytes::from_static(&[0x3a, 0x00]);
    let unsigned = encode(&publish_message(b"unsigned"));
    let mut forged = publish_message(b"forged");
    header_mut(&mut forged).header_mac = Some(Bytes::from(vec![0u8; 32]));
    // Signed, then tampered with: the TTL is covered by the MAC.
    let mut tampered = sign(&mut mac, publish_message(b"tampered"));
    header_mut(&mut tampered).ttl = 1;
    let late_link = encode(&handshake(true).request());
    let valid = encode(&sign(&mut mac, publish_message(b"valid")));

    for bytes in [
        garbage,
        unknown_type,
        unsigned,
        encode(&forged),
        encode(&tampered),
        late_link,
        valid,
    ] {
        peer.tx.send(bytes).await.unwrap();
    }
    let frame = accepted.receiver.recv().await.unwrap();
    assert_eq!(payload_of(&frame), "valid");
    assert_eq!(accepted.receiver.dropped(), 6);
}

#[tokio::test]
async fn an_oversize_frame_closes_only_its_own_link() {
    let mut config = ServerConfig::with_endpoint("127.0.0.1:0");
    config.max_frame_size = 1;
    let mut server = TestServer::start(config, node("server")).await;
    let (peer, mut mac, mut big_link) = negotiated_raw_peer(&mut server).await;

    let client = dial_edge(
        &ClientConfig::with_endpoint(&server.endpoint),
        &node("client"),
    )
    .await;
    let mut other = server.accept().await;

    let huge: &'static [u8] = Box::leak(vec![1u8; 2 * 1024 * 1024].into_boxed_slice());
    peer.tx
        .send(encode(&sign(&mut mac, publish_message(huge))))
        .await
        .unwrap();
    let end = big_link.receiver.recv().await.unwrap_err();
    assert!(matches!(end, slim_transport::LinkEnd::Failed(_)), "{end}");

    carries(&client, &mut other, b"unaffected").await;
}
