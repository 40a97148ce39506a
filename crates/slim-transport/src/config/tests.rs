//! Parsing and validation of link settings.

use super::*;

fn server(yaml: &str) -> ServerConfig {
    yaml_serde::from_str(yaml).unwrap()
}

fn client(yaml: &str) -> ClientConfig {
    yaml_serde::from_str(yaml).unwrap()
}

#[test]
fn an_endpoint_alone_is_a_complete_server_entry() {
    let config = server("endpoint: 0.0.0.0:1234");
    assert_eq!(config.endpoint, "0.0.0.0:1234");
    assert!(config.require_header_mac);
    assert_eq!(config.negotiation_timeout_secs, 5);
    assert!(!config.tls_enabled());
    config.validate().unwrap();
}

#[test]
fn quick_acks_default_to_auto_and_take_true_false_or_auto() {
    assert_eq!(ClientConfig::default().tcp_quickack, QuickAck::Auto);
    assert_eq!(ServerConfig::default().tcp_quickack, QuickAck::Auto);
    let mode = |yaml| client(&format!("{{endpoint: 'http://a:1', tcp_quickack: {yaml}}}"));
    assert_eq!(mode("true").tcp_quickack, QuickAck::Always);
    assert_eq!(mode("false").tcp_quickack, QuickAck::Never);
    assert_eq!(mode("auto").tcp_quickack, QuickAck::Auto);
    assert_eq!(
        server("{endpoint: 'a:1', tcp_quickack: false}").tcp_quickack,
        QuickAck::Never
    );
    let error = yaml_serde::from_str::<ClientConfig>("tcp_quickack: sometimes").unwrap_err();
    assert!(error.to_string().contains("auto, true or false"), "{error}");
}

#[test]
fn server_tls_needs_a_source_unless_insecure() {
    assert!(!server("{endpoint: 'a:1', tls: {insecure: true}}").tls_enabled());
    let err = server("{endpoint: 'a:1', tls: {}}").validate().unwrap_err();
    assert_eq!(err.field, "tls.source");
    let tls = server(
        "endpoint: a:1\ntls:\n  source: {type: file, cert: c.pem, key: k.pem}\n  ca_source: {type: file, path: ca.pem}\n",
    );
    assert!(tls.tls_enabled());
    assert!(tls.tls.as_ref().unwrap().client_ca.is_some());
    tls.validate().unwrap();
}

#[test]
fn unknown_keys_are_refused() {
    let err = yaml_serde::from_str::<ServerConfig>("endpoint: a:1\nendpont: b:2")
        .unwrap_err()
        .to_string();
    assert!(err.contains("endpont"), "{err}");
}

#[test]
fn server_validation_names_the_key() {
    let cases = [
        ("endpoint: 'host:99999'", "endpoint"),
        ("{endpoint: 'a:1', max_frame_size: 9}", "max_frame_size"),
        (
            "{endpoint: 'a:1', negotiation_timeout_secs: 0}",
            "negotiation_timeout_secs",
        ),
        ("{endpoint: 'a:1', queue_capacity: 0}", "queue_capacity"),
        ("{endpoint: 'a:1', http2_only: false}", "http2_only"),
        (
            "{endpoint: 'a:1', http2: {max_frame_size: 10}}",
            "http2.max_frame_size",
        ),
        (
            "{endpoint: 'a:1', http2: {adaptive_window: true}}",
            "http2.adaptive_window",
        ),
        ("{endpoint: 'https://a:1'}", "tls"),
    ];
    for (yaml, field) in cases {
        let err = server(yaml).validate().unwrap_err();
        assert_eq!(err.field, field, "{yaml}: {err}");
    }
}

#[test]
fn client_tls_follows_the_scheme() {
    assert!(!client("endpoint: http://a:1").tls_enabled());
    assert!(client("endpoint: https://a:1").tls_enabled());
    assert!(client("endpoint: a:1").tls_enabled());
    assert!(!client("{endpoint: 'a:1', tls: {insecure: true}}").tls_enabled());
    assert!(!client("endpoint: unix:///tmp/s").tls_enabled());
}

#[test]
fn client_validation_names_the_key() {
    let cases = [
        ("endpoint: http://a:0", "endpoint"),
        (
            "{endpoint: 'https://a:1', tls: {insecure: true}}",
            "tls.insecure",
        ),
        (
            "{endpoint: 'https://a:1', tls: {insecure_skip_verify: true, ca_source: {type: file, path: x}}}",
            "tls.insecure_skip_verify",
        ),
        ("{endpoint: 'http://a:1', link_id: ''}", "link_id"),
        (
            "{endpoint: 'http://a:1', backoff: {type: exponential, factor: 0.5}}",
            "backoff.factor",
        ),
    ];
    for (yaml, field) in cases {
        let err = client(yaml).validate().unwrap_err();
        assert_eq!(err.field, field, "{yaml}: {err}");
    }
}

#[test]
fn backoff_forms() {
    assert_eq!(
        client("endpoint: http://a:1").backoff,
        BackoffConfig::Fixed {
            interval: Duration::from_secs(2),
            max_attempts: None
        }
    );
    assert_eq!(
        client(
            "{endpoint: 'http://a:1', backoff: {type: fixed, interval: 250ms, max_attempts: 3}}"
        )
        .backoff,
        BackoffConfig::Fixed {
            interval: Duration::from_millis(250),
            max_attempts: Some(3)
        }
    );
    let BackoffConfig::Exponential {
        base,
        factor,
        max_delay,
        jitter,
        ..
    } = client("{endpoint: 'http://a:1', backoff: {type: exponential, max_delay: 1m}}").backoff
    else {
        panic!("expected exponential");
    };
    assert_eq!(
        (base, factor, max_delay, jitter),
        (
            Duration::from_millis(100),
            2.0,
            Duration::from_secs(60),
            true
        )
    );
}

#[test]
fn connection_type_and_durations_parse() {
    let config = client(
        "{endpoint: 'http://a:1', connection_type: peer, connect_timeout: 1500ms, keepalive: {http2_keepalive: 5}}",
    );
    assert_eq!(config.connection_type, Some(ConnectionType::Peer));
    assert_eq!(config.connect_timeout, Duration::from_millis(1500));
    assert_eq!(config.keepalive.http2_keepalive, Duration::from_secs(5));
    assert!(yaml_serde::from_str::<ClientConfig>("connection_type: sideways").is_err());
}
