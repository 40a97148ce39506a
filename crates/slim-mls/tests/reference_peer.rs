//! Interop with a plain mls-rs client configured the way upstream SLIM configures it: library
//! defaults (rules, capabilities, lifetimes), the aws-lc provider with its post-quantum suites,
//! `BasicCredential` = the identity token, the app's own signature key. Only the identity
//! provider differs (mls-rs' basic one instead of upstream's token verifier).
//!
//! Both directions are exercised in every suite: the reference client as moderator with us as
//! participant, and the other way round. Real wall-clock time is used because the reference
//! client reads the system clock for key package lifetimes.

// Test code: a failed unwrap is a failed test (clippy.toml covers #[test] fns, not helpers).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use mls_rs::{
    CipherSuiteProvider, Client, CryptoProvider, ExtensionList, MlsMessage, WireFormat,
    client_builder::MlsConfig,
    group::{CommitEffect, ReceivedMessage},
    identity::{
        SigningIdentity,
        basic::{BasicCredential, BasicIdentityProvider},
    },
};
use mls_rs_crypto_awslc::AwsLcCryptoProvider;
use slim_mls::{MlsClient, Suite};
use support::{TestValidator, identity_until, token};

fn now() -> SystemTime {
    SystemTime::now()
}

fn expiry() -> SystemTime {
    now() + Duration::from_secs(3600)
}

/// A reference client named `name`: upstream's configuration, basic identity provider.
fn reference(name: &str, suite: Suite) -> Client<impl MlsConfig> {
    let cipher_suite = mls_rs::CipherSuite::new(suite.code());
    let provider = AwsLcCryptoProvider::default()
        .cipher_suite_provider(cipher_suite)
        .unwrap();
    let (secret, public) = provider.signature_key_generate().unwrap();
    let credential = BasicCredential::new(token(name, public.as_bytes(), expiry()).into_bytes());
    Client::builder()
        .identity_provider(BasicIdentityProvider::new())
        .crypto_provider(AwsLcCryptoProvider::default())
        .signing_identity(
            SigningIdentity::new(credential.into_credential(), public),
            secret,
            cipher_suite,
        )
        .build()
}

fn ours(name: &str, suite: Suite, validator: &Arc<TestValidator>) -> MlsClient {
    MlsClient::new(
        &identity_until(name, suite, expiry()),
        suite,
        validator.clone(),
    )
    .unwrap()
}

fn decode(bytes: &[u8]) -> MlsMessage {
    MlsMessage::from_bytes(bytes).unwrap()
}

fn reference_reads<C: MlsConfig>(
    group: &mut mls_rs::Group<C>,
    message: &[u8],
) -> (Vec<u8>, Vec<u8>) {
    match group.process_incoming_message(decode(message)).unwrap() {
        ReceivedMessage::ApplicationMessage(app) => (app.data().to_vec(), app.authenticated_data),
        other => panic!("expected an application message, got {other:?}"),
    }
}

#[test]
fn we_join_and_follow_a_reference_moderator_in_every_suite() {
    for suite in Suite::ALL {
        let validator = Arc::new(TestValidator::default());
        let moderator = reference("upstream-moderator", suite);
        let mut reference_group = moderator
            .create_group(ExtensionList::default(), ExtensionList::default(), None)
            .unwrap();

        let member = ours("slim-member", suite, &validator);
        let pending = member.key_package(now()).unwrap();
        let commit = reference_group
            .commit_builder()
            .add_member(decode(pending.key_package()))
            .unwrap()
            .build()
            .unwrap();
        reference_group.apply_pending_commit().unwrap();
        let [welcome] = commit.welcome_messages.as_slice() else {
            panic!("one welcome expected");
        };
        let mut group = pending.join(&welcome.to_bytes().unwrap(), now()).unwrap();
        assert_eq!(
            group.members(),
            ["upstream-moderator", "slim-member"].map(String::from)
        );

        // Same leaf capabilities and extensions as the reference's own leaf.
        let roster = reference_group.roster().members();
        assert_eq!(roster[0].capabilities, roster[1].capabilities, "{suite}");
        assert_eq!(roster[0].extensions, roster[1].extensions, "{suite}");

        let from_reference = reference_group
            .encrypt_application_message(b"from upstream", b"aad-1".to_vec())
            .unwrap();
        let got = group.decrypt(&from_reference.to_bytes().unwrap()).unwrap();
        assert_eq!(
            (
                got.plaintext.as_slice(),
                got.aad.as_slice(),
                got.sender.as_str()
            ),
            (&b"from upstream"[..], &b"aad-1"[..], "upstream-moderator")
        );
        let from_us = group.encrypt(b"from slim", b"aad-2").unwrap();
        assert_eq!(
            reference_reads(&mut reference_group, &from_us),
            (b"from slim".to_vec(), b"aad-2".to_vec())
        );

        // The reference adds one of its own; we follow the commit.
        let other = reference("upstream-member", suite);
        let kp = other
            .generate_key_package_message(ExtensionList::default(), ExtensionList::default(), None)
            .unwrap();
        let add = reference_group
            .commit_builder()
            .add_member(kp)
            .unwrap()
            .build()
            .unwrap();
        reference_group.apply_pending_commit().unwrap();
        let applied = group
            .process_commit(&add.commit_message.to_bytes().unwrap(), now())
            .unwrap();
        assert_eq!(applied.added, vec!["upstream-member".to_owned()]);
        let (mut other_group, _) = other
            .join_group(None, &add.welcome_messages[0], None)
            .unwrap();
        let from_us = group.encrypt(b"to both", b"aad-3").unwrap();
        assert_eq!(reference_reads(&mut other_group, &from_us).0, b"to both");

        // The reference removes us.
        let remove = reference_group
            .commit_builder()
            .remove_member(1)
            .unwrap()
            .build()
            .unwrap();
        reference_group.apply_pending_commit().unwrap();
        let applied = group
            .process_commit(&remove.commit_message.to_bytes().unwrap(), now())
            .unwrap();
        assert!(applied.removed_self, "{suite}");
    }
}

#[test]
fn a_reference_member_joins_and_follows_our_group_in_every_suite() {
    for suite in Suite::ALL {
        let validator = Arc::new(TestValidator::default());
        let moderator = ours("slim-moderator", suite, &validator);
        let mut group = moderator.create_group(b"slim-group", now()).unwrap();

        let participant = reference("upstream-member", suite);
        let kp = participant
            .generate_key_package_message(ExtensionList::default(), ExtensionList::default(), None)
            .unwrap();
        let out = group.add_member(&kp.to_bytes().unwrap(), now()).unwrap();
        assert_eq!(out.member, "upstream-member");
        assert_eq!(decode(&out.commit).wire_format(), WireFormat::PublicMessage);
        assert_eq!(decode(&out.welcome).wire_format(), WireFormat::Welcome);
        // No ratchet tree is passed: the welcome must carry it in its extension.
        let (mut reference_group, _) = participant
            .join_group(None, &decode(&out.welcome), None)
            .unwrap();
        assert_eq!(reference_group.current_epoch(), group.epoch());

        let from_us = group.encrypt(b"from slim", b"aad-1").unwrap();
        assert_eq!(
            reference_reads(&mut reference_group, &from_us),
            (b"from slim".to_vec(), b"aad-1".to_vec())
        );
        let from_reference = reference_group
            .encrypt_application_message(b"from upstream", b"aad-2".to_vec())
            .unwrap();
        let got = group.decrypt(&from_reference.to_bytes().unwrap()).unwrap();
        assert_eq!(got.sender, "upstream-member");
        assert_eq!(got.aad, b"aad-2");

        // We add one of ours; the reference follows our commit.
        let second = ours("slim-member", suite, &validator);
        let pending = second.key_package(now()).unwrap();
        let add = group.add_member(pending.key_package(), now()).unwrap();
        match reference_group
            .process_incoming_message(decode(&add.commit))
            .unwrap()
        {
            ReceivedMessage::Commit(commit) => {
                assert!(matches!(commit.effect, CommitEffect::NewEpoch(_)));
            }
            other => panic!("expected a commit, got {other:?}"),
        }
        let mut second_group = pending.join(&add.welcome, now()).unwrap();
        let from_reference = reference_group
            .encrypt_application_message(b"to both", b"aad-3".to_vec())
            .unwrap()
            .to_bytes()
            .unwrap();
        assert_eq!(
            group.decrypt(&from_reference).unwrap().plaintext,
            b"to both"
        );
        assert_eq!(
            second_group.decrypt(&from_reference).unwrap().plaintext,
            b"to both"
        );

        // A rejoin (remove + add in one commit) of the reference member.
        let fresh = participant
            .generate_key_package_message(ExtensionList::default(), ExtensionList::default(), None)
            .unwrap();
        let rejoin = group
            .rejoin_member("upstream-member", &fresh.to_bytes().unwrap(), now())
            .unwrap();
        second_group.process_commit(&rejoin.commit, now()).unwrap();
        let (mut rejoined, _) = participant
            .join_group(None, &decode(&rejoin.welcome), None)
            .unwrap();
        let from_us = group.encrypt(b"welcome back", b"").unwrap();
        assert_eq!(reference_reads(&mut rejoined, &from_us).0, b"welcome back");

        // We remove it; it sees its own removal.
        let remove = group.remove_member("upstream-member", now()).unwrap();
        match rejoined.process_incoming_message(decode(&remove)).unwrap() {
            ReceivedMessage::Commit(commit) => {
                assert!(
                    matches!(commit.effect, CommitEffect::Removed { .. }),
                    "{suite}"
                );
            }
            other => panic!("expected a commit, got {other:?}"),
        }
    }
}

#[test]
fn our_key_packages_carry_what_mls_rs_expects() {
    let validator = Arc::new(TestValidator::default());
    for suite in Suite::ALL {
        let identity = identity_until("slim", suite, expiry());
        let client = MlsClient::new(&identity, suite, validator.clone()).unwrap();
        let at = support::t0();
        let pending = client.key_package(at).unwrap();
        let message = decode(pending.key_package());
        assert_eq!(message.wire_format(), WireFormat::KeyPackage);
        let key_package = message.as_key_package().unwrap();
        assert_eq!(key_package.version(), mls_rs::ProtocolVersion::MLS_10);
        assert_eq!(u16::from(key_package.cipher_suite()), suite.code());
        assert!(key_package.extensions.is_empty());
        let signing = key_package.signing_identity();
        assert_eq!(signing.signature_key.as_bytes(), identity.signing_public);
        assert_eq!(
            signing.credential.as_basic().unwrap().identifier,
            identity.credential
        );
        // Valid from a minute before `now` (clock skew), for the library's default year.
        let not_after = key_package.expiration().unwrap().seconds_since_epoch();
        let expected = (at - Duration::from_secs(60) + Duration::from_secs(365 * 86_400))
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert_eq!(not_after, expected);
    }
}
