//! TLS 1.3 and mutual TLS links.

// A test crate: helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use slim_transport::config::{CaSource, ServerTlsConfig, TlsSource};
use slim_transport::negotiate::ConnectionType;
use slim_transport::{ClientConfig, ServerConfig, dial};

fn tls_server_config(pki: &Pki, mutual: bool) -> ServerConfig {
    let mut config = ServerConfig::with_endpoint("127.0.0.1:0");
    config.tls = Some(ServerTlsConfig {
        insecure: false,
        source: Some(TlsSource::File {
            cert: pki.path("server.pem"),
            key: pki.path("server.key"),
        }),
        client_ca: mutual.then(|| CaSource::File {
            path: pki.path("ca.pem"),
        }),
    });
    config
}

fn tls_client_config(pki: &Pki, endpoint: &str, with_cert: bool) -> ClientConfig {
    let mut config = ClientConfig::with_endpoint(endpoint);
    config.server_name = Some("localhost".into());
    config.tls.ca_source = Some(CaSource::File {
        path: pki.path("ca.pem"),
    });
    if with_cert {
        config.tls.source = Some(TlsSource::File {
            cert: pki.path("client.pem"),
            key: pki.path("client.key"),
        });
    }
    config
}

#[tokio::test]
async fn tls_link_carries_frames() {
    let pki = Pki::new();
    let mut server = TestServer::start(tls_server_config(&pki, false), node("server")).await;
    assert!(
        server.endpoint.starts_with("https://"),
        "{}",
        server.endpoint
    );
    let client = dial_edge(
        &tls_client_config(&pki, &server.endpoint, false),
        &node("client"),
    )
    .await;
    let mut accepted = server.accept().await;
    carries(&client, &mut accepted, b"secret").await;
}

#[tokio::test]
async fn untrusted_server_certificate_is_refused_unless_verification_is_skipped() {
    let pki = Pki::new();
    let other_pki = Pki::new();
    let mut server = TestServer::start(tls_server_config(&pki, false), node("server")).await;
    let wrong_ca = tls_client_config(&other_pki, &server.endpoint, false);
    assert!(
        dial(&wrong_ca, &node("client"), ConnectionType::Edge)
            .await
            .is_err()
    );

    let mut skip = ClientConfig::with_endpoint(&server.endpoint);
    skip.tls.insecure_skip_verify = true;
    dial(&skip, &node("client"), ConnectionType::Edge)
        .await
        .unwrap();
    server.accept().await;
}

#[tokio::test]
async fn mutual_tls_requires_a_client_certificate() {
    let pki = Pki::new();
    let mut server = TestServer::start(tls_server_config(&pki, true), node("server")).await;
    let without = tls_client_config(&pki, &server.endpoint, false);
    assert!(
        dial(&without, &node("client"), ConnectionType::Edge)
            .await
            .is_err()
    );
    let with = tls_client_config(&pki, &server.endpoint, true);
    let client = dial(&with, &node("client"), ConnectionType::Edge)
        .await
        .unwrap();
    let mut accepted = server.accept().await;
    carries(&client, &mut accepted, b"mutual").await;
}

#[tokio::test]
async fn post_quantum_tls_handshake() {
    let pki = Pki::new();
    let mut local = node("server");
    local.post_quantum = true;
    let mut server = TestServer::start(tls_server_config(&pki, false), local.clone()).await;
    let client = dial(
        &tls_client_config(&pki, &server.endpoint, false),
        &LocalNode {
            node_id: "client".into(),
            ..local
        },
        ConnectionType::Edge,
    )
    .await
    .unwrap();
    let accepted = server.accept().await;
    assert!(client.info.hybrid && accepted.info.hybrid);
}

use slim_transport::LocalNode;
