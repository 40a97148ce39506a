//! [`SharedSecretVerifier`]: checks shared-secret tokens (MAC, time window, optional replay
//! cache, optional id allow-list, optional revocation list).

use std::collections::{HashSet, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use serde_json::{Map, Value};

use super::token::{self, HmacSha256};
use super::{SharedSecretError, SharedSecretVerifierConfig, keyed_mac};
use crate::claims::Claims;
use crate::identity::{IdentityVerifier, VerifyError, unix_seconds};
use crate::revocation::RevocationList;

/// Verifies shared-secret tokens. See the [module docs](super) for what is (not) checked.
pub struct SharedSecretVerifier {
    mac: HmacSha256,
    validity_secs: u64,
    max_clock_skew_secs: u64,
    allowed_ids: HashSet<String>,
    replay: Option<Mutex<ReplayCache>>,
    revocation: Option<RevocationList>,
}

impl SharedSecretVerifier {
    /// Builds a verifier from its configuration.
    pub fn new(config: &SharedSecretVerifierConfig) -> Result<Self, SharedSecretError> {
        let replay = (config.replay_cache_capacity > 0)
            .then(|| Mutex::new(ReplayCache::new(config.replay_cache_capacity)));
        Ok(Self {
            mac: keyed_mac(&config.secret)?,
            validity_secs: config.validity_secs,
            max_clock_skew_secs: config.max_clock_skew_secs,
            allowed_ids: config.allowed_ids.iter().cloned().collect(),
            replay,
            revocation: None,
        })
    }

    /// Also rejects tokens whose subject (the token id) is on `list`.
    pub fn with_revocation(mut self, list: RevocationList) -> Self {
        self.revocation = Some(list);
        self
    }

    fn is_allowed(&self, id: &str) -> bool {
        self.allowed_ids.is_empty()
            || self.allowed_ids.contains(id)
            || self.allowed_ids.contains(token::base_id(id))
    }
}

impl IdentityVerifier for SharedSecretVerifier {
    fn verify(&self, token: &str, now: SystemTime) -> Result<Claims, VerifyError> {
        let now = unix_seconds(now).ok_or(VerifyError::ClockBeforeEpoch)?;
        let parsed = token::parse(&self.mac, token)?;

        let valid_from = parsed.issued_at.saturating_sub(self.max_clock_skew_secs);
        if now < valid_from {
            return Err(VerifyError::NotYetValid { valid_from, now });
        }
        let expires_at = parsed.issued_at.saturating_add(self.validity_secs);
        if now > expires_at {
            return Err(VerifyError::Expired {
                expired_at: expires_at,
                now,
            });
        }

        let custom: Map<String, Value> = if parsed.claims_json.is_empty() {
            Map::new()
        } else {
            serde_json::from_slice(&parsed.claims_json)
                .map_err(|_| VerifyError::Malformed("claims are not a JSON object"))?
        };
        if !self.is_allowed(parsed.id) {
            return Err(VerifyError::NotAllowed(parsed.id.to_owned()));
        }
        let claims = Claims {
            sub: parsed.id.to_owned(),
            iat: Some(parsed.issued_at),
            exp: Some(expires_at),
            iss: None,
            aud: Vec::new(),
            jti: None,
            custom,
        };
        if let Some(list) = &self.revocation {
            list.check(&claims).map_err(VerifyError::Revoked)?;
        }
        // Last, so that only tokens that would otherwise be accepted occupy the cache.
        if let Some(replay) = &self.replay {
            let mut cache = replay.lock().unwrap_or_else(PoisonError::into_inner);
            let forget_after = expires_at.saturating_add(self.max_clock_skew_secs);
            if !cache.insert(parsed.mac, forget_after, now) {
                return Err(VerifyError::Replayed);
            }
        }
        Ok(claims)
    }
}

impl std::fmt::Debug for SharedSecretVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedSecretVerifier")
            .field("validity_secs", &self.validity_secs)
            .field("max_clock_skew_secs", &self.max_clock_skew_secs)
            .field("allowed_ids", &self.allowed_ids)
            .field("replay_cache", &self.replay.is_some())
            .finish_non_exhaustive()
    }
}

/// Tokens seen recently, keyed by their MAC, bounded. Entries leave when their token can no
/// longer verify anyway; when the cache is full the oldest entry is evicted (which reopens a
/// replay window for that token only — the price of bounded memory).
struct ReplayCache {
    capacity: usize,
    seen: HashSet<Box<str>>,
    /// Insertion order with each entry's forget time.
    order: VecDeque<(u64, Box<str>)>,
}

impl ReplayCache {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            seen: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    /// Records `key`; returns false if it was already present.
    fn insert(&mut self, key: &str, forget_after: u64, now: u64) -> bool {
        if self.seen.contains(key) {
            return false;
        }
        // Tokens arrive roughly in time order, so expired entries gather at the front.
        while let Some((forget, _)) = self.order.front() {
            if *forget >= now && self.order.len() < self.capacity {
                break;
            }
            if let Some((_, old)) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        let key: Box<str> = key.into();
        self.seen.insert(key.clone());
        self.order.push_back((forget_after, key));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::ReplayCache;

    #[test]
    fn replay_cache_rejects_repeats_and_stays_bounded() {
        let mut cache = ReplayCache::new(3);
        assert!(cache.insert("a", 100, 0));
        assert!(!cache.insert("a", 100, 1));
        assert!(cache.insert("b", 100, 1));
        assert!(cache.insert("c", 100, 1));
        assert!(cache.insert("d", 100, 1), "full: the oldest is evicted");
        assert_eq!(cache.order.len(), 3);
        assert_eq!(cache.seen.len(), 3);
        assert!(cache.insert("a", 100, 1), "evicted entries are forgotten");
        assert!(!cache.insert("d", 100, 1));
    }

    #[test]
    fn replay_cache_forgets_expired_entries() {
        let mut cache = ReplayCache::new(10);
        assert!(cache.insert("a", 5, 0));
        assert!(cache.insert("b", 50, 0));
        assert!(cache.insert("c", 60, 6));
        assert_eq!(cache.order.len(), 2, "a expired at 5 and was dropped at 6");
        assert!(!cache.seen.contains("a"));
    }
}
