//! TLS and mutual TLS between nodes, Unix-socket endpoints, and what the node does with
//! peers that break the rules: unsigned peers, silent peers, malformed and forged frames.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use prost::Message as _;
use slim_testkit::clients::{DEADLINE, connect, eventually, name, publish_until_delivered};
use slim_testkit::pki::TestPki;
use slim_testkit::{ClientSpec, NodeSpec, ServerSpec, raw, scrape};
use slim_transport::mac::HeaderMac;
use slim_transport::negotiate::{ClientHandshake, ClientLinkParams, ConnectionType};
use slim_wire::mac::MacInput;
use slim_wire::{builders, proto};

fn tls_server(pki: &TestPki, mutual: bool) -> ServerSpec {
    ServerSpec {
        endpoint: "127.0.0.1:0".into(),
        extra: vec![pki.server_tls(mutual)],
    }
}

fn tls_link(pki: &TestPki, endpoint: &str, with_cert: bool) -> ClientSpec {
    let mut link = ClientSpec::to(endpoint);
    link.extra.push(pki.client_tls(with_cert));
    link.extra.push("server_name: localhost".into());
    link
}

async fn metric(url: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape::value(&scrape::fetch(url).await.unwrap_or_default(), name, labels)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_link_over_tls_and_mutual_tls() {
    let pki = TestPki::new().unwrap();
    // a: plaintext for applications, TLS and mTLS for node links.
    let mut spec = NodeSpec::new("a").with_metrics();
    spec.servers.push(tls_server(&pki, false));
    spec.servers.push(tls_server(&pki, true));
    let a = start(spec);
    let [plain, tls, mtls] = [0, 1, 2].map(|i| a.endpoints()[i].clone());
    assert!(tls.starts_with("https://") && mtls.starts_with("https://"));

    let mut b_spec = NodeSpec::new("b");
    b_spec.clients.push(tls_link(&pki, &tls, false));
    let b = start(b_spec);
    let mut c_spec = NodeSpec::new("c");
    c_spec.clients.push(tls_link(&pki, &mtls, true));
    let c = start(c_spec);

    let target = name("tls-target", Some(1));
    let (subscriber, mut inbox) = connect(&plain, &target).await.unwrap();
    subscribe(&subscriber, &target).await;
    for (node, tag) in [(&b, "via-tls"), (&c, "via-mtls")] {
        let (publisher, _) = connect(node.endpoint(), &name("p", Some(2))).await.unwrap();
        publish_until_delivered(&publisher, &target, 1, &mut inbox, tag)
            .await
            .unwrap();
    }

    // Without a client certificate the mTLS server refuses the handshake.
    let mut d_spec = NodeSpec::new("d");
    d_spec.clients.push(tls_link(&pki, &mtls, false));
    let _d = start(d_spec);
    let url = a.metrics_url().unwrap().to_owned();
    assert!(
        eventually(DEADLINE, || {
            let url = url.clone();
            async move {
                metric(
                    &url,
                    "slim_accept_errors_total",
                    &[("reason", "tls_handshake")],
                )
                .await
                    >= 1.0
            }
        })
        .await,
        "the mTLS server accepted a client without a certificate"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unix_socket_endpoint_serves_applications() {
    let dir = tempfile::tempdir().unwrap();
    let socket = format!("unix://{}", dir.path().join("slim.sock").display());
    let mut spec = NodeSpec::new("u");
    spec.servers = vec![ServerSpec {
        endpoint: socket.clone(),
        extra: vec![],
    }];
    let node = start(spec);
    assert_eq!(node.endpoint(), socket);
    let me = name("unix-app", Some(1));
    let (subscriber, mut inbox) = connect(&socket, &me).await.unwrap();
    subscribe(&subscriber, &me).await;
    let (publisher, _) = connect(&socket, &name("unix-pub", Some(2))).await.unwrap();
    publish_until_delivered(&publisher, &me, 1, &mut inbox, "over-unix")
        .await
        .unwrap();
}

fn handshake(with_key: bool) -> (ClientHandshake, Bytes) {
    let handshake = ClientHandshake::new(
        ClientLinkParams {
            link_id: None,
            connection_type: ConnectionType::Edge,
            node_id: String::new(),
            deployment_name: String::new(),
            post_quantum: false,
            require_header_mac: true,
        },
        &mut rand_core::OsRng,
    );
    let mut request = handshake.request();
    if !with_key
        && let Some(proto::message::MessageType::Link(proto::Link {
            link_type: Some(proto::link::LinkType::LinkNegotiation(p)),
        })) = request.message_type.as_mut()
    {
        p.link_ecdh_public_key = Bytes::new();
    }
    (handshake, raw::encode(&request))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_node_refuses_an_unsigned_peer() {
    let node = start(NodeSpec::new("strict").with_metrics());
    let (_, request) = handshake(false);
    let status = raw::refusal(raw::open(node.endpoint(), vec![request]).await.unwrap()).await;
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    let url = node.metrics_url().unwrap();
    assert_eq!(
        metric(
            url,
            "slim_link_negotiation_failures_total",
            &[("reason", "missing_key")]
        )
        .await,
        1.0
    );
}

/// Upstream's clients send their negotiation request only once the response headers arrived;
/// a server that waits for the request before answering deadlocks with them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_waits_for_the_response_headers_before_negotiating_is_accepted() {
    let node = start(NodeSpec::new("headers-first"));
    let mut peer = tokio::time::timeout(Duration::from_secs(4), raw::open(node.endpoint(), vec![]))
        .await
        .expect("no response headers before the negotiation request")
        .unwrap()
        .unwrap();
    let (handshake, request) = handshake(true);
    peer.tx.send(request).await.unwrap();
    let reply = proto::Message::decode(peer.rx.message().await.unwrap().unwrap()).unwrap();
    let negotiated = handshake.finish(&reply).unwrap();
    assert!(negotiated.mac_key.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_peer_is_cut_after_the_timeout_while_others_keep_working() {
    let mut spec = NodeSpec::new("timeout").with_metrics();
    spec.servers[0]
        .extra
        .push("negotiation_timeout_secs: 1".into());
    let node = start(spec);
    let endpoint = node.endpoint().to_owned();
    let silent =
        tokio::spawn(
            async move { raw::refusal(raw::open(&endpoint, vec![]).await.unwrap()).await },
        );

    // (A node never routes a message back to the connection it came from, so publisher and
    // subscriber are separate clients.)
    let me = name("busy", Some(1));
    let (client, mut inbox) = connect(node.endpoint(), &me).await.unwrap();
    subscribe(&client, &me).await;
    let (publisher, _) = connect(node.endpoint(), &name("busy-pub", Some(2)))
        .await
        .unwrap();
    publish_until_delivered(&publisher, &me, 1, &mut inbox, "while-silent")
        .await
        .unwrap();

    let outcome = tokio::time::timeout(Duration::from_secs(20), silent)
        .await
        .expect("the silent peer was never cut")
        .unwrap();
    assert_eq!(outcome.code(), tonic::Code::DeadlineExceeded);
    let url = node.metrics_url().unwrap();
    assert_eq!(
        metric(
            url,
            "slim_link_negotiation_failures_total",
            &[("reason", "timeout")]
        )
        .await,
        1.0
    );
    // The well-behaved client never noticed.
    publish_until_delivered(&publisher, &me, 1, &mut inbox, "after-cut")
        .await
        .unwrap();
    // Router figures are taken at scrape time: the two clients are live edge connections.
    assert_eq!(
        metric(url, "slim_connections_active", &[("kind", "edge")]).await,
        2.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_forged_frames_are_counted_and_harm_nobody() {
    let node = start(NodeSpec::new("robust").with_metrics());
    let me = name("bystander", Some(1));
    let (client, mut inbox) = connect(node.endpoint(), &me).await.unwrap();
    subscribe(&client, &me).await;

    // A raw peer negotiates properly, then misbehaves.
    let (handshake, request) = handshake(true);
    let mut peer = raw::open(node.endpoint(), vec![request])
        .await
        .unwrap()
        .unwrap();
    let reply = proto::Message::decode(peer.rx.message().await.unwrap().unwrap()).unwrap();
    let mut mac: HeaderMac = handshake
        .finish(&reply)
        .unwrap()
        .mac_key
        .unwrap()
        .header_mac();

    let garbage = Bytes::from_static(&[0xff, 0xff, 0xff]);
    let unknown_type = Bytes::from_static(&[0x3a, 0x00]);
    let mut forged = builders::publish(
        &name("evil", Some(6)),
        &me,
        1,
        "msg",
        Bytes::from_static(b"forged"),
    );
    if let Some(proto::message::MessageType::Publish(p)) = forged.message_type.as_mut() {
        p.header.as_mut().unwrap().header_mac = Some(Bytes::from(vec![0u8; 32]));
    }
    for bytes in [garbage, unknown_type, raw::encode(&forged)] {
        peer.tx.send(bytes).await.unwrap();
    }

    // The raw peer's link still works: a correctly signed subscribe is acknowledged.
    let peer_name = name("raw-peer", Some(5));
    let mut subscribe_message = builders::subscribe(&peer_name, &peer_name, 77);
    if let Some(proto::message::MessageType::Subscribe(s)) = subscribe_message.message_type.as_mut()
    {
        let header = s.header.as_mut().unwrap();
        let tag = mac.sign(&MacInput::from_proto(header));
        header.header_mac = Some(Bytes::copy_from_slice(&tag));
    }
    peer.tx.send(raw::encode(&subscribe_message)).await.unwrap();
    let ack = proto::Message::decode(peer.rx.message().await.unwrap().unwrap()).unwrap();
    assert!(matches!(
        ack.message_type,
        Some(proto::message::MessageType::SubscriptionAck(
            proto::SubscriptionAck {
                subscription_id: 77,
                success: true,
                ..
            }
        ))
    ));

    let url = node.metrics_url().unwrap();
    for reason in ["malformed", "unknown_message_type", "mac_mismatch"] {
        let count = metric(url, "slim_frames_dropped_total", &[("reason", reason)]).await;
        assert_eq!(count, 1.0, "{reason}");
    }
    assert_eq!(
        metric(url, "slim_header_mac_failures_total", &[]).await,
        1.0
    );

    // The forged publish (processed before the acknowledged subscribe) never reached the
    // bystander, who keeps working.
    assert!(collect(&mut inbox, "").await.is_empty());
    let (publisher, _) = connect(node.endpoint(), &name("pub", Some(2)))
        .await
        .unwrap();
    publish_until_delivered(&publisher, &me, 1, &mut inbox, "bystander")
        .await
        .unwrap();
}
