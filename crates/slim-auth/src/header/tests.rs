use std::time::{Duration, UNIX_EPOCH};

use rand::SeedableRng as _;
use rand::rngs::StdRng;
use slim_wire::{InstanceId, Name};

use super::*;
use crate::keys::SignatureScheme;
use crate::shared_secret::{
    SharedSecretProvider, SharedSecretProviderConfig, SharedSecretVerifier,
    SharedSecretVerifierConfig,
};

const SECRET: &str = "header-signature-test-secret-0123456789";

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_795_000_000)
}

fn provider(scheme: SignatureScheme, seed: u64) -> SharedSecretProvider {
    let key = SigningKey::generate(scheme, &mut StdRng::seed_from_u64(seed));
    SharedSecretProvider::with_rng(
        &SharedSecretProviderConfig::new("org/ns/alice", SECRET),
        key,
        StdRng::seed_from_u64(seed + 100),
    )
    .unwrap()
}

fn verifier() -> SharedSecretVerifier {
    SharedSecretVerifier::new(&SharedSecretVerifierConfig::new(SECRET)).unwrap()
}

/// A discovery request from alice to bob, as the session layer would build it.
fn control_message() -> proto::Message {
    let alice = Name::new("org", "ns", "alice")
        .unwrap()
        .with_id(InstanceId(42));
    let bob = Name::new("org", "ns", "bob").unwrap();
    let mut message = slim_wire::builders::publish(&alice, &bob, 1, "", Bytes::new());
    if let Some(proto::message::MessageType::Publish(publish)) = &mut message.message_type {
        publish.session = Some(proto::SessionHeader {
            session_type: proto::SessionType::PointToPoint as i32,
            session_message_type: proto::SessionMessageType::DiscoveryRequest as i32,
            session_id: 7,
            message_id: 99,
            ..Default::default()
        });
        publish.msg = Some(proto::Content {
            content_type: Some(proto::content::ContentType::CommandPayload(
                proto::CommandPayload {
                    command_payload_type: Some(
                        proto::command_payload::CommandPayloadType::DiscoveryRequest(
                            proto::DiscoveryRequestPayload {},
                        ),
                    ),
                },
            )),
        });
    }
    message
}

fn header_mut(message: &mut proto::Message) -> &mut proto::SlimHeader {
    publish_header_mut(message).unwrap()
}

#[test]
fn stamped_messages_verify_for_both_schemes() {
    for scheme in [SignatureScheme::EcdsaP256Sha256, SignatureScheme::Ed25519] {
        let provider = provider(scheme, 1);
        let mut message = control_message();
        stamp_message(&mut message, &provider, now(), true).unwrap();
        let header = publish_header(&message).unwrap();
        assert_eq!(header.identity, *provider.token(now()).unwrap());
        let claims = verify_message(&message, &verifier(), now()).unwrap();
        assert_eq!(claims.sub, provider.token_id());
    }
}

#[test]
fn the_signature_covers_the_identity_and_every_aad_field() {
    let provider = provider(SignatureScheme::EcdsaP256Sha256, 2);
    let mut signed = control_message();
    stamp_message(&mut signed, &provider, now(), true).unwrap();

    type Tampering = (&'static str, fn(&mut proto::Message));
    let tamperings: Vec<Tampering> = vec![
        ("destination", |m| {
            header_mut(m).destination = Some(Name::new("org", "ns", "eve").unwrap().to_proto());
        }),
        ("message id", |m| {
            if let Some(proto::message::MessageType::Publish(p)) = &mut m.message_type {
                p.session.as_mut().unwrap().message_id += 1;
            }
        }),
        ("session id", |m| {
            if let Some(proto::message::MessageType::Publish(p)) = &mut m.message_type {
                p.session.as_mut().unwrap().session_id += 1;
            }
        }),
        ("message type", |m| {
            if let Some(proto::message::MessageType::Publish(p)) = &mut m.message_type {
                p.session.as_mut().unwrap().session_message_type =
                    proto::SessionMessageType::JoinRequest as i32;
            }
        }),
    ];
    for (what, tamper) in tamperings {
        let mut message = signed.clone();
        tamper(&mut message);
        assert!(
            matches!(
                verify_message(&message, &verifier(), now()),
                Err(MessageAuthError::Signature(SignatureError::Mismatch(_)))
            ),
            "{what}"
        );
    }

    // Swapping in another valid token of the same secret breaks the signature too: the
    // identity is part of the AAD, and the other token carries another key.
    let other = crate::keys::SigningKey::generate(
        SignatureScheme::EcdsaP256Sha256,
        &mut StdRng::seed_from_u64(3),
    );
    let other = SharedSecretProvider::new(
        &SharedSecretProviderConfig::new("org/ns/mallory", SECRET),
        other,
    )
    .unwrap();
    let mut message = signed.clone();
    header_mut(&mut message).identity = other.token(now()).unwrap().to_string();
    assert!(matches!(
        verify_message(&message, &verifier(), now()),
        Err(MessageAuthError::Signature(_))
    ));
}

#[test]
fn fields_outside_the_aad_do_not_matter() {
    let provider = provider(SignatureScheme::EcdsaP256Sha256, 4);
    let mut message = control_message();
    stamp_message(&mut message, &provider, now(), true).unwrap();
    let header = header_mut(&mut message);
    header.ttl = 3;
    header.fanout = 256;
    header.incoming_conn = Some(5);
    header.header_mac = Some(Bytes::from_static(b"hop mac"));
    verify_message(&message, &verifier(), now()).unwrap();
}

#[test]
fn missing_parts_are_reported() {
    let provider = provider(SignatureScheme::EcdsaP256Sha256, 5);
    let mut message = control_message();
    stamp_message(&mut message, &provider, now(), false).unwrap();
    assert_eq!(
        verify_message(&message, &verifier(), now()).unwrap_err(),
        MessageAuthError::MissingSignature
    );
    sign_message(&mut message, provider.signing_key()).unwrap();
    verify_message(&message, &verifier(), now()).unwrap();

    let mut anonymous = message.clone();
    header_mut(&mut anonymous).identity.clear();
    assert_eq!(
        verify_message(&anonymous, &verifier(), now()).unwrap_err(),
        MessageAuthError::MissingIdentity
    );

    let subscribe = slim_wire::builders::subscribe(
        &Name::new("a", "b", "c").unwrap(),
        &Name::new("a", "b", "c").unwrap(),
        0,
    );
    assert_eq!(
        verify_message(&subscribe, &verifier(), now()).unwrap_err(),
        MessageAuthError::NotAPublish
    );
    let mut subscribe = subscribe;
    assert_eq!(
        stamp_message(&mut subscribe, &provider, now(), true).unwrap_err(),
        StampError::NotAPublish
    );
}

#[test]
fn restamping_without_signing_drops_the_stale_signature() {
    let provider = provider(SignatureScheme::EcdsaP256Sha256, 6);
    let mut message = control_message();
    stamp_message(&mut message, &provider, now(), true).unwrap();
    stamp_message(&mut message, &provider, now(), false).unwrap();
    assert_eq!(publish_header(&message).unwrap().e2e_header_sig, None);
}

#[test]
fn rejected_tokens_and_keys_are_reported() {
    let provider = provider(SignatureScheme::EcdsaP256Sha256, 7);
    let mut message = control_message();
    stamp_message(&mut message, &provider, now(), true).unwrap();
    let later = now() + Duration::from_secs(4000);
    assert!(matches!(
        verify_message(&message, &verifier(), later),
        Err(MessageAuthError::Token(VerifyError::Expired { .. }))
    ));

    // A token without a pubkey claim (minted by hand with the same secret).
    use base64::Engine as _;
    use hmac::Mac as _;
    let signed = "org/ns/x_AAAAAAAA:1795000000:AAAA:e30";
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(signed.as_bytes());
    let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    header_mut(&mut message).identity = format!("{signed}:{tag}");
    assert_eq!(
        verify_message(&message, &verifier(), now()).unwrap_err(),
        MessageAuthError::Pubkey(PubkeyError::Missing)
    );
}
