//! [`TokenCache`]: the identity tokens of recent senders, shared instead of copied.
//!
//! Every data message carries its sender's identity token (a shared-secret token is about
//! 230 bytes) and every application message hands it to the application. Copied into a
//! `String` per delivery, it was an allocation, a copy and a free per message per receiver,
//! although a sender's token only changes when it is renewed. The last few tokens are kept
//! as `Arc<str>`: a received token equal to a kept one is that one (a reference-count
//! increment). The cache is a small fixed array, so its memory is bounded whatever a peer
//! sends.

use std::sync::Arc;

use super::recent::Recent;

/// Tokens kept: one per recent sender of a busy group, small enough to scan.
const SLOTS: usize = 16;

/// The last tokens seen, replaced round-robin.
#[derive(Debug, Default)]
pub(crate) struct TokenCache {
    slots: Recent<Arc<str>, SLOTS>,
}

impl TokenCache {
    /// `token` as a shared string: a kept one when equal, else a new one that is kept.
    pub fn share(&mut self, token: &str) -> Arc<str> {
        if let Some(known) = self.slots.find(|known| ***known == *token) {
            return known.clone();
        }
        let shared: Arc<str> = Arc::from(token);
        self.slots.keep(shared.clone());
        shared
    }

    /// [`TokenCache::share`] of a token still in bytes: one equal to a kept token is that
    /// token without checking its UTF-8 again (a received frame's token was checked when the
    /// frame was parsed); `None` when it is new and not UTF-8.
    pub fn share_bytes(&mut self, token: &[u8]) -> Option<Arc<str>> {
        if let Some(known) = self.slots.find(|known| known.as_bytes() == token) {
            return Some(known.clone());
        }
        std::str::from_utf8(token).ok().map(|text| self.share(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_tokens_share_one_allocation_and_memory_stays_bounded() {
        let mut cache = TokenCache::default();
        let first = cache.share("token-a");
        let again = cache.share("token-a");
        assert!(Arc::ptr_eq(&first, &again));
        let from_bytes = cache.share_bytes(b"token-a").unwrap();
        assert!(Arc::ptr_eq(&first, &from_bytes));
        assert_eq!(cache.share_bytes(&[0xff, 0xfe]), None);
        assert_eq!(&*cache.share_bytes(b"token-c").unwrap(), "token-c");
        assert_eq!(&*cache.share("token-b"), "token-b");
        for i in 0..(3 * SLOTS) {
            assert_eq!(&*cache.share(&format!("t{i}")), format!("t{i}"));
        }
        assert!(cache.slots.len() <= SLOTS);
        // Evicted, then seen again: still the right text.
        assert_eq!(&*cache.share("token-a"), "token-a");
    }
}
