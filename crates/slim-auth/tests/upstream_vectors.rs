//! Interop with upstream: tokens and signed control messages produced by the upstream
//! `slim-bindings` 3.3.8 package (captured by `vectors/capture_upstream.py`) must verify here.
//!
//! Each vector records when it was minted; it is verified as of a few seconds later, since the
//! tokens expire an hour after capture.

// Test-only crate: helpers outside #[test] functions may panic on broken fixtures too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::Deserialize;
use slim_auth::header::{MessageAuthError, verify_message};
use slim_auth::jwt::{JwtAlgorithm, JwtKeyConfig, JwtVerifier, JwtVerifierConfig, KeyData};
use slim_auth::shared_secret::{SharedSecretVerifier, SharedSecretVerifierConfig};
use slim_auth::{IdentityVerifier, VerifyError};
use slim_wire::proto;

#[derive(Deserialize)]
struct Vector {
    mode: String,
    alice_app_id: String,
    minted_at: u64,
    alice_token_seen_by_bob: String,
    secret: Option<String>,
    audience: String,
    issuer: String,
    signed_control_messages: Vec<SignedMessage>,
}

#[derive(Deserialize)]
struct SignedMessage {
    session_type: String,
    session_message_type: String,
    session_id: u32,
    message_id: u32,
    payload_type: String,
    source: WireName,
    destination: WireName,
    identity: String,
    e2e_header_sig_hex: String,
}

#[derive(Deserialize)]
struct WireName {
    hashes: [u64; 3],
    id: Option<String>,
    components: [String; 3],
}

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn load(mode: &str) -> Vector {
    let path = vectors_dir().join(format!("upstream/{mode}.json"));
    let vector: Vector = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(vector.mode, mode);
    vector
}

fn shortly_after(vector: &Vector) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(vector.minted_at + 5)
}

fn verifier_for(vector: &Vector) -> Box<dyn IdentityVerifier> {
    if let Some(secret) = &vector.secret {
        return Box::new(
            SharedSecretVerifier::new(&SharedSecretVerifierConfig::new(secret.clone())).unwrap(),
        );
    }
    let (algorithm, key) = match vector.mode.as_str() {
        "es256" => (JwtAlgorithm::ES256, "keys/es256.pub.pem"),
        "rs256" => (JwtAlgorithm::RS256, "keys/rsa.pub.pem"),
        "hs256" => (JwtAlgorithm::HS256, "keys/hs256.secret"),
        other => panic!("unknown mode {other}"),
    };
    let mut config = JwtVerifierConfig::new(JwtKeyConfig {
        algorithm,
        format: Default::default(),
        key: KeyData::File(vectors_dir().join(key)),
    });
    config.audience = vec![vector.audience.clone()];
    config.issuer = Some(vector.issuer.clone());
    Box::new(JwtVerifier::new(&config).unwrap())
}

fn proto_name(name: &WireName) -> proto::Name {
    // The hashes on the wire must be the ones slim-wire computes from the strings.
    for (hash, component) in name.hashes.iter().zip(&name.components) {
        assert_eq!(*hash, slim_wire::hash::component_hash(component));
    }
    let id = name
        .id
        .as_deref()
        .map(|hex| u128::from_str_radix(hex, 16).unwrap());
    proto::Name {
        name: Some(proto::EncodedName {
            component_0: name.hashes[0],
            component_1: name.hashes[1],
            component_2: name.hashes[2],
            name_id: id.map(|id| proto::NameId {
                id_0: (id >> 64) as u64,
                id_1: id as u64,
            }),
        }),
        str_name: Some(proto::StringName {
            str_component_0: name.components[0].clone(),
            str_component_1: name.components[1].clone(),
            str_component_2: name.components[2].clone(),
        }),
    }
}

/// Rebuilds the received message from the captured header fields. The payload is left empty:
/// it is not part of the signed AAD (only its payload type is, empty for commands).
fn rebuild(signed: &SignedMessage) -> proto::Message {
    let session_type = match signed.session_type.as_str() {
        "PointToPoint" => proto::SessionType::PointToPoint,
        "Multicast" => proto::SessionType::Multicast,
        other => panic!("session type {other}"),
    };
    let message_type = match signed.session_message_type.as_str() {
        "DiscoveryRequest" => proto::SessionMessageType::DiscoveryRequest,
        "DiscoveryReply" => proto::SessionMessageType::DiscoveryReply,
        "JoinRequest" => proto::SessionMessageType::JoinRequest,
        "JoinReply" => proto::SessionMessageType::JoinReply,
        "GroupWelcome" => proto::SessionMessageType::GroupWelcome,
        "GroupAck" => proto::SessionMessageType::GroupAck,
        other => panic!("message type {other}"),
    };
    assert_eq!(
        signed.payload_type, "",
        "control messages carry command payloads"
    );
    proto::Message {
        metadata: Default::default(),
        message_type: Some(proto::message::MessageType::Publish(proto::Publish {
            header: Some(proto::SlimHeader {
                source: Some(proto_name(&signed.source)),
                destination: Some(proto_name(&signed.destination)),
                identity: signed.identity.clone(),
                fanout: 1,
                ttl: 8,
                e2e_header_sig: Some(Bytes::from(
                    hex::decode(&signed.e2e_header_sig_hex).unwrap(),
                )),
                ..Default::default()
            }),
            session: Some(proto::SessionHeader {
                session_type: session_type as i32,
                session_message_type: message_type as i32,
                session_id: signed.session_id,
                message_id: signed.message_id,
                ..Default::default()
            }),
            msg: Some(proto::Content {
                content_type: Some(proto::content::ContentType::CommandPayload(
                    proto::CommandPayload::default(),
                )),
            }),
        })),
    }
}

fn app_id(token_id: &str) -> String {
    let id = slim_wire::hash::instance_id_for(token_id);
    slim_wire::InstanceId(id).to_string()
}

#[test]
fn upstream_shared_secret_tokens_verify() {
    let vector = load("shared");
    let verifier = verifier_for(&vector);
    let claims = verifier
        .verify(&vector.alice_token_seen_by_bob, shortly_after(&vector))
        .unwrap();
    assert!(claims.sub.starts_with("org/ns/alice_"));
    assert_eq!(claims.iat, claims.exp.map(|exp| exp - 3600));
    assert_eq!(claims.pubkey_bytes().unwrap().len(), 65);
    // Upstream's app id is XXH3-128 of the token id.
    assert_eq!(app_id(&claims.sub), vector.alice_app_id);

    // And not with another secret, nor after the window.
    let other =
        SharedSecretVerifier::new(&SharedSecretVerifierConfig::new("z".repeat(40))).unwrap();
    assert_eq!(
        other
            .verify(&vector.alice_token_seen_by_bob, shortly_after(&vector))
            .unwrap_err(),
        VerifyError::BadSignature
    );
    let late = shortly_after(&vector) + Duration::from_secs(3600);
    assert!(matches!(
        verifier.verify(&vector.alice_token_seen_by_bob, late),
        Err(VerifyError::Expired { .. })
    ));
}

#[test]
fn upstream_jwts_verify() {
    for mode in ["es256", "rs256", "hs256"] {
        let vector = load(mode);
        let claims = verifier_for(&vector)
            .verify(&vector.alice_token_seen_by_bob, shortly_after(&vector))
            .unwrap_or_else(|e| panic!("{mode}: {e}"));
        assert_eq!(claims.sub, "alice-subject", "{mode}");
        assert_eq!(claims.iss.as_deref(), Some("upstream-issuer"));
        assert_eq!(claims.aud, vec!["slim-rs-test".to_owned()]);
        assert_eq!(claims.pubkey_bytes().unwrap().len(), 65);
        assert_eq!(app_id(&claims.sub), vector.alice_app_id, "{mode}");

        let header = jsonwebtoken::decode_header(&vector.alice_token_seen_by_bob).unwrap();
        assert_eq!(
            header.kid.as_deref(),
            Some("alice-subject"),
            "upstream's kid is sub"
        );
    }
}

#[test]
fn upstream_header_signatures_verify() {
    let mut checked = 0;
    for mode in ["shared", "es256", "rs256", "hs256"] {
        let vector = load(mode);
        let verifier = verifier_for(&vector);
        assert!(vector.signed_control_messages.len() >= 4, "{mode}");
        for signed in &vector.signed_control_messages {
            let message = rebuild(signed);
            let what = format!("{mode} {}", signed.session_message_type);
            let claims = verify_message(&message, verifier.as_ref(), shortly_after(&vector))
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(claims.pubkey().is_ok(), "{what}");
            checked += 1;

            // The AAD really is what was signed: one changed field breaks it.
            let mut tampered = message.clone();
            if let Some(proto::message::MessageType::Publish(publish)) = &mut tampered.message_type
                && let Some(session) = &mut publish.session
            {
                session.message_id ^= 1;
            }
            assert!(
                matches!(
                    verify_message(&tampered, verifier.as_ref(), shortly_after(&vector)),
                    Err(MessageAuthError::Signature(_))
                ),
                "{what}"
            );
        }
    }
    assert!(checked >= 16);
}
