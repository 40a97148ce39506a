//! [`HeaderCache`]: the names and token of the last few routing headers a layer read, so the
//! next frame with the same header takes them in one comparison.
//!
//! A data message's two names and identity token each go through their own cache
//! (`names.rs`, `tokens.rs`): two scans comparing keys and strings, and one comparing the
//! ~230-byte token. Consecutive frames of one flow carry the same routing header, whose bytes
//! hold the names and the token, and differ only in the link's MAC. The parser already
//! recognised such a header and gave the frame its [`HeaderKey`], shared only by frames whose
//! headers are equal outside the MAC's value; so a frame whose key was resolved before
//! resolves to the same names and token, found by comparing one integer. A few headers are
//! kept, replaced round-robin, so memory stays bounded whatever a peer sends. A frame without
//! a key (a header too long for the parser to remember) is resolved through the name and
//! token caches every time.

use std::sync::Arc;

use slim_wire::frame::HeaderKey;
use slim_wire::{Frame, Name};

use super::recent::Recent;
use super::{NameCache, TokenCache};

/// Headers kept: a session's peer, a group's senders in turn, and acknowledgements.
const SLOTS: usize = 4;

/// What a routing header resolved to.
#[derive(Debug)]
struct Resolved {
    key: HeaderKey,
    source: Name,
    destination: Name,
    /// Taken only for messages that hand the token on (data, not acknowledgements).
    token: Option<Arc<str>>,
}

/// The last routing headers resolved.
#[derive(Debug, Default)]
pub(crate) struct HeaderCache {
    slots: Recent<Resolved, SLOTS>,
}

/// A frame's source, destination and (when asked for) identity token.
pub(crate) type Parties = (Name, Name, Option<Arc<str>>);

impl HeaderCache {
    /// The source, destination and, when `with_token`, the shared identity token of
    /// `frame`'s header: from a kept header when this one has its key, else through the
    /// name and token caches (and then kept). `None` when a name does not resolve or the
    /// token is not UTF-8, as those caches answer.
    pub fn resolve(
        &mut self,
        frame: &Frame,
        with_token: bool,
        names: &mut NameCache,
        tokens: &mut TokenCache,
    ) -> Option<Parties> {
        let key = frame.header_key();
        if let Some(kept) = key.and_then(|key| self.slots.find_mut(|kept| kept.key == key)) {
            if with_token && kept.token.is_none() {
                kept.token = Some(tokens.share_bytes(frame.identity_bytes())?);
            }
            let token = if with_token { kept.token.clone() } else { None };
            return Some((kept.source.clone(), kept.destination.clone(), token));
        }
        let source = names.resolve_parts(frame.source_parts()?).ok()?;
        let destination = names.resolve_parts(frame.destination_parts()?).ok()?;
        let token = match with_token {
            true => Some(tokens.share_bytes(frame.identity_bytes())?),
            false => None,
        };
        if let Some(key) = key {
            self.slots.keep(Resolved {
                key,
                source: source.clone(),
                destination: destination.clone(),
                token: token.clone(),
            });
        }
        Some((source, destination, token))
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use slim_wire::{InstanceId, builders};

    use super::*;

    fn name(s: &str) -> Name {
        s.parse::<Name>().unwrap().with_id(InstanceId(7))
    }

    fn frame(from: &str, identity: &str, mac: u8) -> Frame {
        let mut message =
            builders::publish(&name(from), &name("org/ns/me"), 1, "msg", Bytes::new());
        if let Some(slim_wire::proto::message::MessageType::Publish(p)) =
            message.message_type.as_mut()
        {
            p.header.as_mut().unwrap().identity = identity.into();
        }
        let frame = Frame::from_message(&message).unwrap();
        Frame::parse(frame.to_forwarded_bytes(5, Some(&[mac; 32]))).unwrap()
    }

    fn resolve(cache: &mut HeaderCache, frame: &Frame, with_token: bool) -> Option<Parties> {
        cache.resolve(
            frame,
            with_token,
            &mut NameCache::default(),
            &mut TokenCache::default(),
        )
    }

    #[test]
    fn a_kept_header_answers_as_the_caches_would() {
        let mut cache = HeaderCache::default();
        let first = frame("org/ns/alice", "token-a", 1);
        let (source, destination, token) = resolve(&mut cache, &first, true).unwrap();
        assert_eq!(source, name("org/ns/alice"));
        assert_eq!(destination, name("org/ns/me"));
        assert_eq!(token.as_deref(), Some("token-a"));
        // Another MAC: the kept answer, the very same token allocation.
        let again = resolve(&mut cache, &frame("org/ns/alice", "token-a", 2), true).unwrap();
        assert_eq!(again.0, source);
        assert!(Arc::ptr_eq(
            again.2.as_ref().unwrap(),
            token.as_ref().unwrap()
        ));
        assert_eq!(
            resolve(&mut cache, &first, false).unwrap().2,
            None,
            "acknowledgements take no token"
        );
        // Another token or another sender: resolved afresh.
        let renewed = resolve(&mut cache, &frame("org/ns/alice", "token-b", 1), true).unwrap();
        assert_eq!(renewed.2.as_deref(), Some("token-b"));
        let bob = resolve(&mut cache, &frame("org/ns/bob", "token-a", 1), true).unwrap();
        assert_eq!(bob.0, name("org/ns/bob"));
    }

    #[test]
    fn a_header_without_key_is_resolved_every_time_and_not_kept() {
        let mut cache = HeaderCache::default();
        // A token long enough that the parser does not remember the header.
        let long = "t".repeat(2000);
        let first = frame("org/ns/alice", &long, 1);
        assert!(first.header_key().is_none());
        for frame in [&first, &frame("org/ns/alice", &long, 2)] {
            let (source, _, token) = resolve(&mut cache, frame, true).unwrap();
            assert_eq!(source, name("org/ns/alice"));
            assert_eq!(token.as_deref(), Some(long.as_str()));
        }
        assert_eq!(cache.slots.len(), 0);
        let bob = resolve(&mut cache, &frame("org/ns/bob", &long, 1), true).unwrap();
        assert_eq!(bob.0, name("org/ns/bob"), "not taken for alice's");
    }

    #[test]
    fn a_header_first_seen_without_token_takes_it_when_asked_and_slots_stay_bounded() {
        let mut cache = HeaderCache::default();
        let ack = frame("org/ns/alice", "token-a", 1);
        assert_eq!(resolve(&mut cache, &ack, false).unwrap().2, None);
        let data = resolve(&mut cache, &ack, true).unwrap();
        assert_eq!(data.2.as_deref(), Some("token-a"));
        for i in 0..3 * SLOTS {
            let sender = format!("org/ns/s{i}");
            let (source, _, _) = resolve(&mut cache, &frame(&sender, "t", 1), true).unwrap();
            assert_eq!(source, name(&sender));
        }
        assert_eq!(cache.slots.len(), SLOTS);
        // Evicted, then seen again: still the right answer.
        let back = resolve(&mut cache, &ack, true).unwrap();
        assert_eq!(back.0, name("org/ns/alice"));
        assert_eq!(back.2.as_deref(), Some("token-a"));
    }
}
