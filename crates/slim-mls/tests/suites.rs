//! Every supported suite runs a full small lifecycle: create, add two members, talk, remove one,
//! talk again, rejoin it.

// Test code: a failed unwrap is a failed test (clippy.toml covers #[test] fns, not helpers).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use slim_mls::{DecryptError, Suite};
use support::{TestValidator, client, t0};

fn lifecycle(suite: Suite) {
    let validator = Arc::new(TestValidator::default());
    let clients: Vec<_> = ["moderator", "alice", "bob"]
        .into_iter()
        .map(|name| client(name, suite, &validator))
        .collect();
    let mut moderator = clients[0].create_group(b"suite-group", t0()).unwrap();
    assert_eq!(moderator.suite(), suite);
    let mut members = Vec::new();
    for joiner in &clients[1..] {
        let pending = joiner.key_package(t0()).unwrap();
        let out = moderator.add_member(pending.key_package(), t0()).unwrap();
        for member in &mut members {
            let member: &mut slim_mls::MlsGroup = member;
            member.process_commit(&out.commit, t0()).unwrap();
        }
        members.push(pending.join(&out.welcome, t0()).unwrap());
    }
    let message = members[1].encrypt(b"hi", b"aad").unwrap();
    assert_eq!(moderator.decrypt(&message).unwrap().sender, "bob");
    assert_eq!(members[0].decrypt(&message).unwrap().plaintext, b"hi");

    let commit = moderator.remove_member("bob", t0()).unwrap();
    members[0].process_commit(&commit, t0()).unwrap();
    assert!(
        members[1]
            .process_commit(&commit, t0())
            .unwrap()
            .removed_self
    );
    let message = moderator.encrypt(b"bob is gone", b"").unwrap();
    assert_eq!(
        members[0].decrypt(&message).unwrap().plaintext,
        b"bob is gone"
    );
    assert!(matches!(
        members[1].decrypt(&message),
        Err(DecryptError::Removed)
    ));

    let pending = clients[2].key_package(t0()).unwrap();
    let out = moderator.add_member(pending.key_package(), t0()).unwrap();
    members[0].process_commit(&out.commit, t0()).unwrap();
    let mut bob = pending.join(&out.welcome, t0()).unwrap();
    let message = members[0].encrypt(b"welcome back", b"").unwrap();
    assert_eq!(bob.decrypt(&message).unwrap().sender, "alice");
    assert_eq!(moderator.members(), bob.members());
}

#[test]
fn p256_default_suite() {
    assert_eq!(Suite::default().code(), 0x0002);
    lifecycle(Suite::P256);
}

#[test]
fn curve25519_suite() {
    lifecycle(Suite::Curve25519);
}

#[test]
fn post_quantum_x_wing_suite() {
    assert_eq!(Suite::PostQuantum.code(), 0xFE4C);
    lifecycle(Suite::PostQuantum);
}
