//! Building an application: what is checked before anything touches the network.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use slim_client::{App, AppConfig, AppIdentity, ConnectError, Name};

#[tokio::test]
async fn an_application_without_identity_is_refused_before_dialing() {
    // Port 9 (discard) on loopback: nothing listens; the identity check comes first.
    let error = App::builder(Name::new("org", "ns", "app").unwrap())
        .config(AppConfig::new("http://127.0.0.1:9"))
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(error, ConnectError::NoIdentity), "{error}");
}

#[tokio::test]
async fn a_short_shared_secret_is_a_configuration_error() {
    let error = App::builder(Name::new("org", "ns", "app").unwrap())
        .identity(AppIdentity::SharedSecret("too short".into()))
        .config(AppConfig::new("http://127.0.0.1:9"))
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(error, ConnectError::Identity(_)), "{error}");
}

#[tokio::test]
async fn an_unreachable_node_is_a_dial_error() {
    let mut config = AppConfig::new("http://127.0.0.1:9");
    config.link.connect_timeout = std::time::Duration::from_secs(2);
    let error = App::builder(Name::new("org", "ns", "app").unwrap())
        .shared_secret("a shared secret of at least 32 bytes!!")
        .config(config)
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(error, ConnectError::Dial(_)), "{error}");
}
