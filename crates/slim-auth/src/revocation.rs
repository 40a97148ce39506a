//! Runtime revocation of identities, beyond upstream (which only lets tokens expire).
//!
//! A [`RevocationList`] is a cheap-clone handle: the operator (control API, admin CLI, a
//! policy feed) keeps one clone and updates it, the verifiers hold others and consult it on
//! every verification, so a revoked identity is rejected from the next message on. Entries:
//!
//! - a **subject** (`sub`; for shared-secret tokens this is the token id
//!   `<base_id>_<random>`), either for good or only for tokens issued before a given time
//!   (the usual way to force re-issuance after a key compromise);
//! - a **token id** (JWT `jti`), for one token.
//!
//! The list is bounded ([`RevocationList::with_capacity`]) so a runaway feed cannot exhaust
//! memory; adding past the bound fails loudly instead of silently dropping entries.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use crate::claims::Claims;

/// Default bound on the number of entries.
pub const DEFAULT_REVOCATION_CAPACITY: usize = 1_000_000;

/// Why a token was found revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// Every token of this subject is revoked.
    Subject(String),
    /// Tokens of this subject issued before the given unix second are revoked (tokens without
    /// `iat` count as issued before).
    SubjectIssuedBefore(String, u64),
    /// This token id (`jti`) is revoked.
    TokenId(String),
}

impl fmt::Display for Revocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Revocation::Subject(sub) => write!(f, "subject {sub} revoked"),
            Revocation::SubjectIssuedBefore(sub, t) => {
                write!(f, "tokens of subject {sub} issued before {t} revoked")
            }
            Revocation::TokenId(jti) => write!(f, "token id {jti} revoked"),
        }
    }
}

/// The list is at its capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("revocation list full ({capacity} entries)")]
pub struct RevocationListFull {
    /// The bound that was hit.
    pub capacity: usize,
}

/// A shared, updatable set of revoked subjects and token ids.
#[derive(Clone)]
pub struct RevocationList {
    inner: Arc<RwLock<Entries>>,
}

#[derive(Default)]
struct Entries {
    capacity: usize,
    /// `None` = every token; `Some(t)` = tokens issued before `t`.
    subjects: HashMap<String, Option<u64>>,
    token_ids: HashSet<String>,
}

impl Entries {
    fn len(&self) -> usize {
        self.subjects.len() + self.token_ids.len()
    }
}

impl Default for RevocationList {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_REVOCATION_CAPACITY)
    }
}

impl fmt::Debug for RevocationList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevocationList")
            .field("len", &self.len())
            .finish()
    }
}

impl RevocationList {
    /// An empty list with the default capacity.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty list holding at most `capacity` entries.
    pub fn with_capacity(capacity: usize) -> Self {
        let entries = Entries {
            capacity,
            ..Entries::default()
        };
        Self {
            inner: Arc::new(RwLock::new(entries)),
        }
    }

    /// Revokes every token of `subject`, past and future.
    pub fn revoke_subject(&self, subject: impl Into<String>) -> Result<(), RevocationListFull> {
        self.set_subject(subject.into(), None)
    }

    /// Revokes the tokens of `subject` issued before `unix_seconds`; tokens issued later are
    /// accepted again. Replaces any earlier entry for the subject.
    pub fn revoke_subject_issued_before(
        &self,
        subject: impl Into<String>,
        unix_seconds: u64,
    ) -> Result<(), RevocationListFull> {
        self.set_subject(subject.into(), Some(unix_seconds))
    }

    /// Revokes the single token whose `jti` is `token_id`.
    pub fn revoke_token_id(&self, token_id: impl Into<String>) -> Result<(), RevocationListFull> {
        let mut entries = self.write();
        let token_id = token_id.into();
        if !entries.token_ids.contains(&token_id) && entries.len() >= entries.capacity {
            return Err(RevocationListFull {
                capacity: entries.capacity,
            });
        }
        entries.token_ids.insert(token_id);
        Ok(())
    }

    /// Lifts a subject revocation. Returns whether there was one.
    pub fn reinstate_subject(&self, subject: &str) -> bool {
        self.write().subjects.remove(subject).is_some()
    }

    /// Lifts a token-id revocation. Returns whether there was one.
    pub fn reinstate_token_id(&self, token_id: &str) -> bool {
        self.write().token_ids.remove(token_id)
    }

    /// Removes every entry.
    pub fn clear(&self) {
        let mut entries = self.write();
        entries.subjects.clear();
        entries.token_ids.clear();
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether the list has no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks verified claims against the list.
    pub fn check(&self, claims: &Claims) -> Result<(), Revocation> {
        let entries = self.read();
        if entries.len() == 0 {
            return Ok(());
        }
        if let Some(jti) = &claims.jti
            && entries.token_ids.contains(jti)
        {
            return Err(Revocation::TokenId(jti.clone()));
        }
        match entries.subjects.get(&claims.sub) {
            None => Ok(()),
            Some(None) => Err(Revocation::Subject(claims.sub.clone())),
            Some(Some(before)) => match claims.iat {
                Some(iat) if iat >= *before => Ok(()),
                _ => Err(Revocation::SubjectIssuedBefore(claims.sub.clone(), *before)),
            },
        }
    }

    fn set_subject(&self, subject: String, before: Option<u64>) -> Result<(), RevocationListFull> {
        let mut entries = self.write();
        if !entries.subjects.contains_key(&subject) && entries.len() >= entries.capacity {
            return Err(RevocationListFull {
                capacity: entries.capacity,
            });
        }
        entries.subjects.insert(subject, before);
        Ok(())
    }

    // The critical sections below cannot panic, so a poisoned lock still holds consistent
    // data; recover it rather than propagate a panic from an unrelated thread.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Entries> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Entries> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(sub: &str, iat: Option<u64>, jti: Option<&str>) -> Claims {
        Claims {
            sub: sub.into(),
            iat,
            exp: None,
            iss: None,
            aud: Vec::new(),
            jti: jti.map(Into::into),
            custom: serde_json::Map::new(),
        }
    }

    #[test]
    fn subject_revocation_is_seen_by_every_clone() {
        let list = RevocationList::new();
        let verifier_side = list.clone();
        let alice = claims("alice", Some(10), None);
        assert_eq!(verifier_side.check(&alice), Ok(()));
        list.revoke_subject("alice").unwrap();
        assert_eq!(
            verifier_side.check(&alice),
            Err(Revocation::Subject("alice".into()))
        );
        assert_eq!(verifier_side.check(&claims("bob", Some(10), None)), Ok(()));
        assert!(list.reinstate_subject("alice"));
        assert_eq!(verifier_side.check(&alice), Ok(()));
        assert!(!list.reinstate_subject("alice"));
    }

    #[test]
    fn issued_before_revokes_only_older_tokens() {
        let list = RevocationList::new();
        list.revoke_subject_issued_before("alice", 100).unwrap();
        let revoked = Err(Revocation::SubjectIssuedBefore("alice".into(), 100));
        assert_eq!(list.check(&claims("alice", Some(99), None)), revoked);
        assert_eq!(list.check(&claims("alice", None, None)), revoked);
        assert_eq!(list.check(&claims("alice", Some(100), None)), Ok(()));
    }

    #[test]
    fn token_id_revocation() {
        let list = RevocationList::new();
        list.revoke_token_id("t-1").unwrap();
        assert_eq!(
            list.check(&claims("alice", Some(1), Some("t-1"))),
            Err(Revocation::TokenId("t-1".into()))
        );
        assert_eq!(list.check(&claims("alice", Some(1), Some("t-2"))), Ok(()));
        assert_eq!(list.check(&claims("alice", Some(1), None)), Ok(()));
        assert!(list.reinstate_token_id("t-1"));
        assert!(list.is_empty());
    }

    #[test]
    fn capacity_is_enforced_but_updates_of_existing_entries_pass() {
        let list = RevocationList::with_capacity(2);
        list.revoke_subject("a").unwrap();
        list.revoke_token_id("t").unwrap();
        assert_eq!(
            list.revoke_subject("b"),
            Err(RevocationListFull { capacity: 2 })
        );
        list.revoke_subject_issued_before("a", 5).unwrap();
        list.revoke_token_id("t").unwrap();
        assert_eq!(list.len(), 2);
        list.clear();
        list.revoke_subject("b").unwrap();
    }
}
