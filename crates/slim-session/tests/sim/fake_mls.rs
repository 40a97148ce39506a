//! A model of MLS for simulations: epochs, membership per epoch, commits that must be applied
//! in order, welcomes tied to key packages, and ciphertexts only members of their epoch can
//! open. It has no cryptography; it enforces the *rules* the session layer must respect, so a
//! removed member really cannot read later messages and out-of-order commits really fail.
//!
//! The registry is shared by every provider of one simulation (it plays the part of the
//! mathematics: who can derive which epoch's keys).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use std::time::SystemTime;

use slim_session::{Decrypted, MemberAdded, MlsGroup, MlsProvider, SecurityError};

/// Past epochs whose messages can still be decrypted.
const PAST_EPOCHS_KEPT: u64 = 3;

#[derive(Debug, Default)]
struct GroupTruth {
    /// Members (client names) of each epoch, index = epoch.
    epochs: Vec<HashSet<String>>,
    /// Leaf of each client.
    leaves: HashMap<u32, String>,
    next_leaf: u32,
}

#[derive(Debug, Default)]
struct Registry {
    groups: Vec<GroupTruth>,
    /// Key package id → owning client.
    key_packages: HashMap<u64, String>,
    next_kp: u64,
}

/// The shared truth of one simulation.
#[derive(Clone, Debug, Default)]
pub struct MlsWorld(Arc<Mutex<Registry>>);

impl MlsWorld {
    fn with<R>(&self, f: impl FnOnce(&mut Registry) -> R) -> R {
        let mut guard = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut guard)
    }

    /// A provider for client `client`.
    pub fn provider(&self, client: &str) -> FakeMls {
        FakeMls {
            world: self.clone(),
            client: client.to_owned(),
            my_key_packages: HashSet::new(),
        }
    }
}

/// One application's MLS client.
pub struct FakeMls {
    world: MlsWorld,
    client: String,
    my_key_packages: HashSet<u64>,
}

fn err(msg: &str) -> SecurityError {
    SecurityError::Mls(msg.to_owned())
}

fn read_u64(bytes: &[u8], at: usize) -> Result<u64, SecurityError> {
    bytes
        .get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| err("truncated"))
}

impl MlsProvider for FakeMls {
    fn key_package(&mut self, _now: SystemTime) -> Result<Vec<u8>, SecurityError> {
        let id = self.world.with(|r| {
            r.next_kp += 1;
            r.key_packages.insert(r.next_kp, self.client.clone());
            r.next_kp
        });
        self.my_key_packages.insert(id);
        let mut kp = b"KP".to_vec();
        kp.extend(id.to_be_bytes());
        Ok(kp)
    }

    fn create_group(
        &mut self,
        _group_id: &[u8],
        _now: SystemTime,
    ) -> Result<Box<dyn MlsGroup>, SecurityError> {
        let (group, leaf) = self.world.with(|r| {
            let mut truth = GroupTruth::default();
            truth.epochs.push(HashSet::from([self.client.clone()]));
            truth.leaves.insert(0, self.client.clone());
            truth.next_leaf = 1;
            r.groups.push(truth);
            (r.groups.len() - 1, 0)
        });
        let _ = leaf;
        Ok(Box::new(FakeGroup {
            world: self.world.clone(),
            client: self.client.clone(),
            group,
            epoch: 0,
        }))
    }

    fn join_group(
        &mut self,
        welcome: &[u8],
        _now: SystemTime,
    ) -> Result<Box<dyn MlsGroup>, SecurityError> {
        if welcome.get(..2) != Some(b"WE") {
            return Err(err("not a welcome"));
        }
        let group = read_u64(welcome, 2)? as usize;
        let epoch = read_u64(welcome, 10)?;
        let kp = read_u64(welcome, 18)?;
        if !self.my_key_packages.remove(&kp) {
            return Err(err("welcome for a key package that is not ours"));
        }
        let member = self.world.with(|r| {
            r.groups
                .get(group)
                .and_then(|g| g.epochs.get(epoch as usize))
                .is_some_and(|m| m.contains(&self.client))
        });
        if !member {
            return Err(err("welcome for an epoch we are not in"));
        }
        Ok(Box::new(FakeGroup {
            world: self.world.clone(),
            client: self.client.clone(),
            group,
            epoch,
        }))
    }
}

/// One member's view of a group.
pub struct FakeGroup {
    world: MlsWorld,
    client: String,
    group: usize,
    epoch: u64,
}

impl FakeGroup {
    /// Moves the group to a new epoch with `members`; returns (commit, new epoch).
    fn commit(&mut self, members: HashSet<String>) -> Result<Vec<u8>, SecurityError> {
        let from = self.epoch;
        let to = self.world.with(|r| {
            let truth = r
                .groups
                .get_mut(self.group)
                .ok_or_else(|| err("no group"))?;
            if truth.epochs.len() as u64 != from + 1 {
                return Err(err("moderator is not at the latest epoch"));
            }
            truth.epochs.push(members);
            Ok(truth.epochs.len() as u64 - 1)
        })?;
        self.epoch = to;
        let mut commit = b"CO".to_vec();
        commit.extend((self.group as u64).to_be_bytes());
        commit.extend(from.to_be_bytes());
        commit.extend(to.to_be_bytes());
        Ok(commit)
    }

    fn members(&self) -> HashSet<String> {
        self.world.with(|r| {
            r.groups
                .get(self.group)
                .and_then(|g| g.epochs.get(self.epoch as usize))
                .cloned()
                .unwrap_or_default()
        })
    }

    fn welcome(&self, kp: u64) -> Vec<u8> {
        let mut welcome = b"WE".to_vec();
        welcome.extend((self.group as u64).to_be_bytes());
        welcome.extend(self.epoch.to_be_bytes());
        welcome.extend(kp.to_be_bytes());
        welcome
    }

    fn kp_owner(&self, key_package: &[u8]) -> Result<(u64, String), SecurityError> {
        if key_package.get(..2) != Some(b"KP") {
            return Err(err("not a key package"));
        }
        let id = read_u64(key_package, 2)?;
        let owner = self
            .world
            .with(|r| r.key_packages.get(&id).cloned())
            .ok_or_else(|| err("unknown key package"))?;
        Ok((id, owner))
    }

    fn new_leaf(&self, client: &str) -> u32 {
        self.world.with(|r| {
            let truth = &mut r.groups[self.group];
            let leaf = truth.next_leaf;
            truth.next_leaf += 1;
            truth.leaves.insert(leaf, client.to_owned());
            leaf
        })
    }

    fn leaf_owner(&self, leaf: &str) -> Result<String, SecurityError> {
        self.world
            .with(|r| {
                let leaf: u32 = leaf.parse().ok()?;
                r.groups[self.group].leaves.get(&leaf).cloned()
            })
            .ok_or_else(|| err("unknown leaf"))
    }
}

impl MlsGroup for FakeGroup {
    fn epoch(&self) -> u64 {
        self.epoch
    }

    fn add_member(
        &mut self,
        key_package: &[u8],
        _now: SystemTime,
    ) -> Result<MemberAdded, SecurityError> {
        let (kp, owner) = self.kp_owner(key_package)?;
        let mut members = self.members();
        members.insert(owner.clone());
        let commit = self.commit(members)?;
        let leaf = self.new_leaf(&owner);
        Ok(MemberAdded {
            commit,
            welcome: self.welcome(kp),
            member: leaf.to_string(),
        })
    }

    fn remove_member(&mut self, member: &str, _now: SystemTime) -> Result<Vec<u8>, SecurityError> {
        let owner = self.leaf_owner(member)?;
        let mut members = self.members();
        members.remove(&owner);
        self.commit(members)
    }

    fn rejoin_member(
        &mut self,
        member: &str,
        key_package: &[u8],
        _now: SystemTime,
    ) -> Result<MemberAdded, SecurityError> {
        let (kp, owner) = self.kp_owner(key_package)?;
        if self.leaf_owner(member)? != owner {
            return Err(err("rejoin with someone else's key package"));
        }
        let commit = self.commit(self.members())?;
        let leaf = self.new_leaf(&owner);
        Ok(MemberAdded {
            commit,
            welcome: self.welcome(kp),
            member: leaf.to_string(),
        })
    }

    fn process_commit(&mut self, commit: &[u8], _now: SystemTime) -> Result<(), SecurityError> {
        if commit.get(..2) != Some(b"CO") {
            return Err(err("not a commit"));
        }
        let group = read_u64(commit, 2)? as usize;
        let from = read_u64(commit, 10)?;
        let to = read_u64(commit, 18)?;
        if group != self.group || from != self.epoch {
            return Err(err("commit does not apply to our epoch"));
        }
        self.epoch = to;
        if !self.members().contains(&self.client) {
            return Err(err("removed from the group"));
        }
        Ok(())
    }

    fn encrypt(&mut self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, SecurityError> {
        if !self.members().contains(&self.client) {
            return Err(err("not a member"));
        }
        let mut out = b"CT".to_vec();
        out.extend((self.group as u64).to_be_bytes());
        out.extend(self.epoch.to_be_bytes());
        out.extend((aad.len() as u64).to_be_bytes());
        out.extend(aad);
        out.extend(plaintext);
        Ok(out)
    }

    fn decrypt(&mut self, ciphertext: &[u8]) -> Result<Decrypted, SecurityError> {
        if ciphertext.get(..2) != Some(b"CT") {
            return Err(err("not a ciphertext"));
        }
        let group = read_u64(ciphertext, 2)? as usize;
        let epoch = read_u64(ciphertext, 10)?;
        let aad_len = read_u64(ciphertext, 18)? as usize;
        if group != self.group {
            return Err(err("other group"));
        }
        if epoch > self.epoch {
            return Err(SecurityError::FutureEpoch);
        }
        // Like mls-rs, a few past epochs stay readable for late messages.
        if epoch + PAST_EPOCHS_KEPT < self.epoch {
            return Err(err("epoch secrets deleted"));
        }
        let member_then = self.world.with(|r| {
            r.groups
                .get(self.group)
                .and_then(|g| g.epochs.get(epoch as usize))
                .is_some_and(|m| m.contains(&self.client))
        });
        if !member_then {
            return Err(err("not a member of this epoch"));
        }
        let aad = ciphertext
            .get(26..26 + aad_len)
            .ok_or_else(|| err("truncated"))?
            .to_vec();
        let plaintext = ciphertext
            .get(26 + aad_len..)
            .ok_or_else(|| err("truncated"))?
            .to_vec();
        Ok(Decrypted { plaintext, aad })
    }
}
