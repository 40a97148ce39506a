//! Hostile input never panics and never changes state: random bytes and damaged genuine
//! messages are fed to every entry point that reads bytes from the network, and the group keeps
//! working afterwards.

// Test code: a failed unwrap is a failed test (clippy.toml covers #[test] fns, not helpers).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use proptest::prelude::*;
use slim_mls::{MlsGroup, PendingJoin, Suite};
use support::{TestValidator, client, t0};

struct Fixture {
    moderator: MlsGroup,
    member: MlsGroup,
    pending: PendingJoin,
    /// A genuine application message, commit and welcome, for mutation.
    message: Vec<u8>,
    commit: Vec<u8>,
    welcome: Vec<u8>,
    client: slim_mls::MlsClient,
}

fn fixture() -> Fixture {
    let validator = Arc::new(TestValidator::default());
    let moderator_client = client("moderator", Suite::P256, &validator);
    let member_client = client("alice", Suite::P256, &validator);
    let mut moderator = moderator_client.create_group(b"g", t0()).unwrap();
    let pending = member_client.key_package(t0()).unwrap();
    let out = moderator.add_member(pending.key_package(), t0()).unwrap();
    let member = pending.join(&out.welcome, t0()).unwrap();
    let message = moderator.encrypt(b"genuine", b"aad").unwrap();
    let late = client("bob", Suite::P256, &validator)
        .key_package(t0())
        .unwrap();
    let next = moderator.add_member(late.key_package(), t0()).unwrap();
    Fixture {
        moderator,
        member,
        pending: late,
        message,
        commit: next.commit,
        welcome: next.welcome,
        client: member_client,
    }
}

/// How to damage a genuine message (positions are taken modulo its length).
#[derive(Debug, Clone)]
enum Damage {
    Random(Vec<u8>),
    Flip(Vec<(usize, u8)>),
    Cut(usize),
    Extend(Vec<u8>),
}

impl Damage {
    fn apply(&self, genuine: &[u8]) -> Vec<u8> {
        match self {
            Damage::Random(bytes) => bytes.clone(),
            Damage::Flip(edits) => {
                let mut bytes = genuine.to_vec();
                for (at, value) in edits {
                    let at = at % bytes.len();
                    bytes[at] ^= value | 1;
                }
                bytes
            }
            Damage::Cut(at) => genuine[..at % genuine.len()].to_vec(),
            Damage::Extend(tail) => [genuine, tail].concat(),
        }
    }
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..512).prop_map(Damage::Random),
        proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4).prop_map(Damage::Flip),
        any::<usize>().prop_map(Damage::Cut),
        proptest::collection::vec(any::<u8>(), 1..16).prop_map(Damage::Extend),
    ]
}

fn check_still_works(f: &mut Fixture) {
    let epoch = f.member.epoch();
    f.member.process_commit(&f.commit, t0()).unwrap();
    assert_eq!(f.member.epoch(), epoch + 1);
    // The genuine message may have lost its key to a damaged copy (see `MlsGroup::decrypt`);
    // fresh ones must decrypt.
    let fresh = f.moderator.encrypt(b"fresh", b"aad").unwrap();
    assert_eq!(f.member.decrypt(&fresh).unwrap().plaintext, b"fresh");
    let mut bob = f.pending.join(&f.welcome, t0()).unwrap();
    let reply = f.member.encrypt(b"still fine", b"").unwrap();
    assert_eq!(
        f.moderator.decrypt(&reply).unwrap().plaintext,
        b"still fine"
    );
    assert_eq!(bob.decrypt(&reply).unwrap().plaintext, b"still fine");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn hostile_bytes_are_refused_without_harm(
        message in damage(),
        commit in damage(),
        welcome in damage(),
        key_package in damage(),
        state in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut f = fixture();
        prop_assert!(f.member.decrypt(&message.apply(&f.message)).is_err());
        prop_assert!(f.member.process_commit(&commit.apply(&f.commit), t0()).is_err());
        prop_assert!(f.pending.join(&welcome.apply(&f.welcome), t0()).is_err());
        let epoch = f.moderator.epoch();
        let key_package = key_package.apply(f.pending.key_package());
        prop_assert!(f.moderator.add_member(&key_package, t0()).is_err());
        prop_assert_eq!(f.moderator.epoch(), epoch);
        prop_assert!(f.client.import_group(&state, t0()).is_err());
        check_still_works(&mut f);
    }
}
