//! Group lifecycle through the public API: add, remove, rejoin, commit ordering, encryption with
//! AAD, and the errors of each step. Time is virtual (`t0()`), identities are test tokens.

// Test code: a failed unwrap is a failed test (clippy.toml covers #[test] fns, not helpers).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use slim_mls::{
    CommitError, DecryptError, JoinError, MlsClient, MlsGroup, MlsSettings, ProcessCommitError,
    StateError, Suite,
};
use support::{TestValidator, client, t0};

/// A moderator (index 0) and the members it added, all in the same epoch.
struct Group {
    validator: Arc<TestValidator>,
    clients: Vec<MlsClient>,
    states: Vec<MlsGroup>,
}

impl Group {
    fn new(suite: Suite, names: &[&str]) -> Self {
        let validator = Arc::new(TestValidator::default());
        let moderator = client(names[0], suite, &validator);
        let state = moderator.create_group(b"group-1", t0()).unwrap();
        let mut group = Self {
            validator,
            clients: vec![moderator],
            states: vec![state],
        };
        for name in &names[1..] {
            let joiner = client(name, suite, &group.validator);
            group.add(joiner);
        }
        group
    }

    /// The moderator adds `joiner`; every other member applies the commit.
    fn add(&mut self, joiner: MlsClient) {
        let pending = joiner.key_package(t0()).unwrap();
        let out = self.states[0]
            .add_member(pending.key_package(), t0())
            .unwrap();
        assert_eq!(&out.member, joiner.member_id());
        for state in &mut self.states[1..] {
            let applied = state.process_commit(&out.commit, t0()).unwrap();
            assert_eq!(applied.added, vec![joiner.member_id().clone()]);
        }
        self.states.push(pending.join(&out.welcome, t0()).unwrap());
        self.clients.push(joiner);
        self.assert_consistent();
    }

    fn assert_consistent(&self) {
        let epoch = self.states[0].epoch();
        let members = self.states[0].members();
        for state in &self.states {
            assert_eq!(state.epoch(), epoch);
            assert_eq!(state.members(), members);
        }
    }

    /// Every member sends one message; every other member decrypts it with sender and AAD.
    fn assert_everyone_reads_everyone(&mut self) {
        for sender in 0..self.states.len() {
            let aad = format!("aad from {sender}").into_bytes();
            let text = format!("hello from {sender}").into_bytes();
            let message = self.states[sender].encrypt(&text, &aad).unwrap();
            let sender_id = self.states[sender].own_id().clone();
            for (receiver, state) in self.states.iter_mut().enumerate() {
                if receiver == sender {
                    continue;
                }
                let got = state.decrypt(&message).unwrap();
                assert_eq!(got.plaintext, text);
                assert_eq!(got.aad, aad);
                assert_eq!(got.sender, sender_id);
            }
        }
    }
}

#[test]
fn members_added_one_by_one_all_read_each_other() {
    let mut group = Group::new(Suite::P256, &["moderator"]);
    assert_eq!(group.states[0].epoch(), 0);
    assert_eq!(group.states[0].members(), vec!["moderator".to_owned()]);
    for (count, name) in ["alice", "bob", "carol"].into_iter().enumerate() {
        let joiner = client(name, Suite::P256, &group.validator);
        group.add(joiner);
        assert_eq!(group.states[0].epoch(), count as u64 + 1);
        assert_eq!(group.states[0].members().len(), count + 2);
        group.assert_everyone_reads_everyone();
    }
    assert_eq!(
        group.states[3].members(),
        ["moderator", "alice", "bob", "carol"].map(String::from)
    );
}

#[test]
fn a_removed_member_cannot_decrypt_anything_sent_after_its_removal() {
    let mut group = Group::new(Suite::P256, &["moderator", "alice", "bob", "carol"]);
    let commit = group.states[0].remove_member("carol", t0()).unwrap();
    let applied = group.states[1].process_commit(&commit, t0()).unwrap();
    assert_eq!(applied.removed, vec!["carol".to_owned()]);
    assert_eq!(applied.committer, "moderator");
    assert!(!applied.removed_self);
    group.states[2].process_commit(&commit, t0()).unwrap();
    // Carol keeps a copy of her state that never hears of the removal.
    let mut carol_unaware = group.clients[3]
        .import_group(&group.states[3].export_state().unwrap(), t0())
        .unwrap();
    let applied = group.states[3].process_commit(&commit, t0()).unwrap();
    assert!(applied.removed_self);
    assert!(group.states[3].is_removed());

    for sender in 0..3 {
        let message = group.states[sender]
            .encrypt(b"after removal", b"aad")
            .unwrap();
        assert!(matches!(
            group.states[3].decrypt(&message),
            Err(DecryptError::Removed)
        ));
        assert!(matches!(
            carol_unaware.decrypt(&message),
            Err(DecryptError::FutureEpoch {
                message_epoch: 4,
                group_epoch: 3
            })
        ));
        for receiver in (0..3).filter(|r| *r != sender) {
            group.states[receiver].decrypt(&message).unwrap();
        }
    }
    // Nor can she still speak to the group from her old epoch.
    let forged = carol_unaware.encrypt(b"still here?", b"aad").unwrap();
    for state in &mut group.states[..3] {
        assert!(state.decrypt(&forged).is_err());
    }
    assert!(matches!(
        group.states[3].encrypt(b"x", b""),
        Err(slim_mls::EncryptError::Removed)
    ));
    group.states.truncate(3);
    group.assert_consistent();
    group.assert_everyone_reads_everyone();
}

#[test]
fn rejoin_replaces_the_member_in_one_commit() {
    let mut group = Group::new(Suite::P256, &["moderator", "alice", "bob"]);
    let epoch = group.states[0].epoch();
    // Bob lost his state and comes back with a fresh key package.
    let pending = group.clients[2].key_package(t0()).unwrap();
    let owner = group.states[0]
        .key_package_owner(pending.key_package())
        .unwrap();
    assert!(group.states[0].contains(&owner));
    let out = group.states[0]
        .rejoin_member(&owner, pending.key_package(), t0())
        .unwrap();
    assert_eq!(out.member, "bob");
    assert_eq!(group.states[0].epoch(), epoch + 1);
    let applied = group.states[1].process_commit(&out.commit, t0()).unwrap();
    assert_eq!(applied.added, vec!["bob".to_owned()]);
    assert_eq!(applied.removed, vec!["bob".to_owned()]);
    assert_eq!(applied.epoch, epoch + 1);
    let mut old_bob = std::mem::replace(
        &mut group.states[2],
        pending.join(&out.welcome, t0()).unwrap(),
    );
    group.assert_consistent();
    group.assert_everyone_reads_everyone();
    let message = group.states[0].encrypt(b"new epoch", b"").unwrap();
    assert!(old_bob.decrypt(&message).is_err());
}

#[test]
fn rejoin_refuses_a_key_package_of_someone_else_and_unknown_members() {
    let mut group = Group::new(Suite::P256, &["moderator", "alice", "bob"]);
    let pending = group.clients[1].key_package(t0()).unwrap();
    assert!(matches!(
        group.states[0].rejoin_member("bob", pending.key_package(), t0()),
        Err(CommitError::IdentityMismatch { .. })
    ));
    assert!(matches!(
        group.states[0].rejoin_member("zoe", pending.key_package(), t0()),
        Err(CommitError::UnknownMember(_))
    ));
    assert_eq!(group.states[0].epoch(), 2);
}

#[test]
fn commits_apply_in_epoch_order_only() {
    let mut group = Group::new(Suite::P256, &["moderator", "alice", "bob"]);
    let mut commits = Vec::new();
    let mut pendings = Vec::new();
    for name in ["carol", "dave"] {
        let joiner = client(name, Suite::P256, &group.validator);
        let pending = joiner.key_package(t0()).unwrap();
        let out = group.states[0]
            .add_member(pending.key_package(), t0())
            .unwrap();
        group.states[2].process_commit(&out.commit, t0()).unwrap();
        commits.push(out.commit);
        pendings.push((joiner, pending, out.welcome));
    }
    // Alice got the second commit first.
    let alice = &mut group.states[1];
    assert!(matches!(
        alice.process_commit(&commits[1], t0()),
        Err(ProcessCommitError::FutureEpoch {
            commit_epoch: 3,
            group_epoch: 2
        })
    ));
    alice.process_commit(&commits[0], t0()).unwrap();
    assert!(matches!(
        alice.process_commit(&commits[0], t0()),
        Err(ProcessCommitError::StaleEpoch {
            commit_epoch: 2,
            group_epoch: 3
        })
    ));
    alice.process_commit(&commits[1], t0()).unwrap();
    // The moderator's own commits are already merged: an echo is stale.
    assert!(matches!(
        group.states[0].process_commit(&commits[1], t0()),
        Err(ProcessCommitError::StaleEpoch { .. })
    ));
    // Carol joined at epoch 3 and must apply the commit that added Dave.
    let (carol, carol_pending, carol_welcome) = pendings.remove(0);
    let mut carol_state = carol_pending.join(&carol_welcome, t0()).unwrap();
    assert_eq!(carol_state.epoch(), 3);
    carol_state.process_commit(&commits[1], t0()).unwrap();
    let (dave, dave_pending, dave_welcome) = pendings.remove(0);
    group.states.push(carol_state);
    group
        .states
        .push(dave_pending.join(&dave_welcome, t0()).unwrap());
    group.clients.extend([carol, dave]);
    group.assert_consistent();
    group.assert_everyone_reads_everyone();
}

#[test]
fn aad_round_trips_and_any_altered_byte_is_refused() {
    let mut group = Group::new(Suite::P256, &["moderator", "alice"]);
    for aad in [&b""[..], b"header integrity aad", &[0u8; 300]] {
        let message = group.states[0].encrypt(b"payload", aad).unwrap();
        assert_eq!(group.states[1].decrypt(&message).unwrap().aad, aad);
    }
    let message = group.states[0].encrypt(b"payload", b"the aad").unwrap();
    for index in 0..message.len() {
        let mut altered = message.clone();
        altered[index] ^= 0x01;
        assert!(
            group.states[1].decrypt(&altered).is_err(),
            "flipping byte {index} went unnoticed"
        );
    }
    for len in 0..message.len() {
        assert!(group.states[1].decrypt(&message[..len]).is_err());
    }
    // A damaged copy may have used up the message's key (no worse than a drop), but the group
    // goes on: the next message decrypts, and a replay of it is refused.
    assert!(matches!(
        group.states[1].decrypt(&message),
        Err(DecryptError::KeyAlreadyUsed { generation: 3 })
    ));
    assert!(matches!(
        group.states[0].decrypt(&message),
        Err(DecryptError::OwnMessage)
    ));
    let next = group.states[0].encrypt(b"next", b"the aad").unwrap();
    assert_eq!(group.states[1].decrypt(&next).unwrap().plaintext, b"next");
    assert!(matches!(
        group.states[1].decrypt(&next),
        Err(DecryptError::KeyAlreadyUsed { generation: 4 })
    ));
}

#[test]
fn messages_and_commits_are_checked_for_kind_and_group() {
    let mut group = Group::new(Suite::P256, &["moderator", "alice"]);
    let mut other = Group::new(Suite::P256, &["moderator", "alice"]);
    let foreign = other.states[0].encrypt(b"x", b"").unwrap();
    // Same group id, different group: the id matches but the keys do not.
    assert!(group.states[1].decrypt(&foreign).is_err());

    let validator = Arc::new(TestValidator::default());
    let elsewhere = client("m2", Suite::P256, &validator);
    let mut third = elsewhere.create_group(b"group-2", t0()).unwrap();
    let pending = client("a2", Suite::P256, &validator)
        .key_package(t0())
        .unwrap();
    let out = third.add_member(pending.key_package(), t0()).unwrap();
    let wrong_group = third.encrypt(b"x", b"").unwrap();
    assert!(matches!(
        group.states[1].decrypt(&wrong_group),
        Err(DecryptError::WrongGroup)
    ));
    assert!(matches!(
        group.states[1].process_commit(&out.commit, t0()),
        Err(ProcessCommitError::WrongGroup)
    ));
    assert!(matches!(
        group.states[1].decrypt(&out.commit),
        Err(DecryptError::NotApplication("commit"))
    ));
    let application = group.states[0].encrypt(b"x", b"").unwrap();
    assert!(matches!(
        group.states[1].process_commit(&application, t0()),
        Err(ProcessCommitError::NotACommit("application"))
    ));
    assert!(matches!(
        group.states[1].process_commit(pending.key_package(), t0()),
        Err(ProcessCommitError::NotACommit("key package"))
    ));
    assert!(matches!(
        pending.join(pending.key_package(), t0()),
        Err(JoinError::NotAWelcome("key package"))
    ));
    assert!(matches!(
        group.states[0].add_member(&out.welcome, t0()),
        Err(CommitError::NotAKeyPackage("welcome"))
    ));
}

#[test]
fn a_welcome_for_someone_else_is_not_joined_and_the_key_package_survives() {
    let mut group = Group::new(Suite::P256, &["moderator"]);
    let alice = client("alice", Suite::P256, &group.validator);
    let bob = client("bob", Suite::P256, &group.validator);
    let alice_pending = alice.key_package(t0()).unwrap();
    let bob_pending = bob.key_package(t0()).unwrap();
    let out = group.states[0]
        .add_member(alice_pending.key_package(), t0())
        .unwrap();
    assert!(matches!(
        bob_pending.join(&out.welcome, t0()),
        Err(JoinError::NotForUs)
    ));
    let mut garbled = out.welcome.clone();
    let last = garbled.len() - 1;
    garbled[last] ^= 0xFF;
    assert!(alice_pending.join(&garbled, t0()).is_err());
    group
        .states
        .push(alice_pending.join(&out.welcome, t0()).unwrap());
    group.assert_everyone_reads_everyone();
}

#[test]
fn the_validator_decides_who_may_join() {
    let mut group = Group::new(Suite::P256, &["moderator", "alice"]);
    group.validator.refuse("mallory");
    let mallory = client("mallory", Suite::P256, &group.validator);
    let pending = mallory.key_package(t0()).unwrap();
    let refused = group.states[0].add_member(pending.key_package(), t0());
    assert!(
        matches!(&refused, Err(CommitError::MemberRejected(why)) if why.contains("refused by policy")),
        "{refused:?}"
    );
    // A token naming another key than the leaf's.
    let mut forged = support::identity("eve", Suite::P256);
    let real = support::identity("eve", Suite::P256);
    forged.signing_secret = real.signing_secret;
    forged.signing_public = real.signing_public;
    let eve = MlsClient::new(&forged, Suite::P256, group.validator.clone());
    let eve = eve.unwrap();
    let refused = group.states[0].add_member(eve.key_package(t0()).unwrap().key_package(), t0());
    assert!(
        matches!(&refused, Err(CommitError::MemberRejected(why)) if why.contains("does not match")),
        "{refused:?}"
    );
    // An expired token.
    let late = t0() + support::TOKEN_LIFETIME + std::time::Duration::from_secs(1);
    let zoe = client("zoe", Suite::P256, &group.validator);
    let refused = group.states[0].add_member(zoe.key_package(t0()).unwrap().key_package(), late);
    assert!(matches!(&refused, Err(CommitError::MemberRejected(why)) if why.contains("expired")));
    // Nothing changed.
    assert_eq!(group.states[0].epoch(), 1);
    group.assert_everyone_reads_everyone();
}

#[test]
fn membership_mistakes_fail_cleanly() {
    let mut group = Group::new(Suite::P256, &["moderator", "alice"]);
    let again = group.clients[1].key_package(t0()).unwrap();
    assert!(matches!(
        group.states[0].add_member(again.key_package(), t0()),
        Err(CommitError::AlreadyMember(id)) if id == "alice"
    ));
    assert!(matches!(
        group.states[0].remove_member("nobody", t0()),
        Err(CommitError::UnknownMember(_))
    ));
    assert!(matches!(
        group.states[0].remove_member("moderator", t0()),
        Err(CommitError::CannotRemoveSelf)
    ));
    let other_suite = client("carol", Suite::Curve25519, &group.validator);
    assert!(matches!(
        group.states[0].add_member(other_suite.key_package(t0()).unwrap().key_package(), t0()),
        Err(CommitError::WrongSuite { got: 0x0001, .. })
    ));
    let validator = Arc::new(TestValidator::default());
    let x = client("x", Suite::Curve25519, &validator);
    let mut x_group = x.create_group(b"g", t0()).unwrap();
    let pending = client("carol", Suite::P256, &validator)
        .key_package(t0())
        .unwrap();
    let out = group.states[0]
        .add_member(pending.key_package(), t0())
        .unwrap();
    let y = client("y", Suite::Curve25519, &validator)
        .key_package(t0())
        .unwrap();
    let y_out = x_group.add_member(y.key_package(), t0()).unwrap();
    assert!(matches!(
        pending.join(&y_out.welcome, t0()),
        Err(JoinError::WrongSuite { got: 0x0001, .. })
    ));
    pending.join(&out.welcome, t0()).unwrap();
    assert!(matches!(
        x.create_group(b"", t0()),
        Err(slim_mls::CreateError::EmptyGroupId)
    ));
}

#[test]
fn messages_from_before_a_commit_decrypt_within_the_retention() {
    let validator = Arc::new(TestValidator::default());
    let settings = MlsSettings {
        epoch_retention: 2,
        ..MlsSettings::default()
    };
    let make = |name: &str| {
        MlsClient::with_settings(
            &support::identity(name, Suite::P256),
            Suite::P256,
            validator.clone(),
            settings,
        )
        .unwrap()
    };
    let moderator = make("moderator");
    let alice = make("alice");
    let mut m = moderator.create_group(b"g", t0()).unwrap();
    let pending = alice.key_package(t0()).unwrap();
    let out = m.add_member(pending.key_package(), t0()).unwrap();
    let mut a = pending.join(&out.welcome, t0()).unwrap();

    let early = m.encrypt(b"sent at epoch 1", b"").unwrap();
    let early_too = m.encrypt(b"also at epoch 1", b"").unwrap();
    let mut joiners = Vec::new();
    for name in ["b", "c", "d"] {
        let pending = make(name).key_package(t0()).unwrap();
        let out = m.add_member(pending.key_package(), t0()).unwrap();
        a.process_commit(&out.commit, t0()).unwrap();
        joiners.push(pending);
        if a.epoch() == 2 {
            // One epoch later the old keys are still there.
            assert_eq!(a.decrypt(&early).unwrap().epoch, 1);
        }
    }
    assert!(matches!(
        a.decrypt(&early_too),
        Err(DecryptError::EpochUnavailable {
            message_epoch: 1,
            group_epoch: 4
        })
    ));
}

#[test]
fn state_export_and_import_continue_the_group() {
    let mut group = Group::new(Suite::P256, &["moderator", "alice", "bob"]);
    let exported = group.states[1].export_state().unwrap();
    let restored = group.clients[1].import_group(&exported, t0()).unwrap();
    group.states[1] = restored;
    group.assert_consistent();
    group.assert_everyone_reads_everyone();
    // The restored member follows commits as before.
    let commit = group.states[0].remove_member("bob", t0()).unwrap();
    group.states[1].process_commit(&commit, t0()).unwrap();
    group.states.truncate(2);
    group.assert_everyone_reads_everyone();

    assert!(matches!(
        group.clients[0].import_group(&exported, t0()),
        Err(StateError::NotOurs)
    ));
    assert!(matches!(
        group.clients[1].import_group(b"garbage", t0()),
        Err(StateError::Malformed)
    ));
}

#[test]
fn members_check_the_leaves_they_are_shown() {
    let mut group = Group::new(Suite::P256, &["moderator", "alice"]);
    // Alice's application no longer trusts "mallory"; the moderator still does.
    let alice_validator = Arc::new(TestValidator::default());
    alice_validator.refuse("mallory");
    let alice = MlsClient::new(
        &support::identity("alice", Suite::P256),
        Suite::P256,
        alice_validator.clone(),
    )
    .unwrap();
    let pending = alice.key_package(t0()).unwrap();
    let out = group.states[0]
        .rejoin_member("alice", pending.key_package(), t0())
        .unwrap();
    let mut strict_alice = pending.join(&out.welcome, t0()).unwrap();
    let mallory = client("mallory", Suite::P256, &group.validator);
    let add = group.states[0]
        .add_member(mallory.key_package(t0()).unwrap().key_package(), t0())
        .unwrap();
    let epoch = strict_alice.epoch();
    assert!(matches!(
        strict_alice.process_commit(&add.commit, t0()),
        Err(ProcessCommitError::MemberRejected(why)) if why.contains("mallory")
    ));
    assert_eq!(strict_alice.epoch(), epoch);

    // A newcomer that refuses someone already in the group does not join it.
    let bob_validator = Arc::new(TestValidator::default());
    bob_validator.refuse("mallory");
    let bob = MlsClient::new(
        &support::identity("bob", Suite::P256),
        Suite::P256,
        bob_validator,
    )
    .unwrap();
    let pending = bob.key_package(t0()).unwrap();
    let out = group.states[0]
        .add_member(pending.key_package(), t0())
        .unwrap();
    assert!(matches!(
        pending.join(&out.welcome, t0()),
        Err(JoinError::MemberRejected(why)) if why.contains("mallory")
    ));
}

#[test]
fn groups_can_move_between_threads() {
    fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<MlsGroup>();
    send_and_sync::<MlsClient>();
    send_and_sync::<slim_mls::PendingJoin>();
}
