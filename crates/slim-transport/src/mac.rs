//! The hop-by-hop header MAC: HMAC-SHA256 over `slim_wire::mac`'s preimage with the key the
//! link negotiated.
//!
//! A [`MacKey`] holds the HMAC state already keyed (the inner and outer pads absorbed), so
//! each message costs one clone of that state plus the hash of its preimage; a [`HeaderMac`]
//! adds a reusable preimage buffer, so signing and verifying allocate nothing. Each link
//! direction owns one [`HeaderMac`]: the encoder signs, the receive loop verifies
//! ([`InboundMac`] applies the strict / non-strict policy of the link).

use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use slim_wire::Frame;
use slim_wire::frame::HeaderKey;
use slim_wire::mac::MacInput;

use crate::negotiate::ConnectionType;

/// Length of the derived key and of a tag.
pub const MAC_KEY_LEN: usize = 32;

/// A header tag.
pub type Tag = [u8; 32];

type HmacSha256 = Hmac<Sha256>;

/// A link's header-MAC key, bound to the link id (which is part of every preimage).
#[derive(Clone)]
pub struct MacKey {
    link_id: Arc<[u8]>,
    keyed: HmacSha256,
    raw: [u8; MAC_KEY_LEN],
}

impl std::fmt::Debug for MacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("MacKey")
            .field("link_id", &String::from_utf8_lossy(&self.link_id))
            .finish_non_exhaustive()
    }
}

impl MacKey {
    /// A key for `link_id` from raw key bytes.
    pub fn new(link_id: &str, key: &[u8; MAC_KEY_LEN]) -> Self {
        // HMAC zero-pads keys shorter than the 64-byte block, so padding here gives the same
        // state through the infallible constructor.
        let mut block = [0u8; 64];
        block[..MAC_KEY_LEN].copy_from_slice(key);
        let keyed = <HmacSha256 as hmac::digest::KeyInit>::new(&block.into());
        MacKey {
            link_id: Arc::from(link_id.as_bytes()),
            keyed,
            raw: *key,
        }
    }

    /// The raw key bytes (for tests and known-answer checks).
    pub fn raw(&self) -> &[u8; MAC_KEY_LEN] {
        &self.raw
    }

    /// The link id the key is bound to.
    pub fn link_id(&self) -> &[u8] {
        &self.link_id
    }

    /// A signer/verifier with its own preimage buffer.
    pub fn header_mac(&self) -> HeaderMac {
        HeaderMac {
            key: self.clone(),
            preimage: Vec::with_capacity(512),
            head: Vec::with_capacity(512),
            head_state: None,
            last_tag: None,
            memo: HeaderMemo::default(),
        }
    }
}

/// Bytes at the end of every preimage that hold the TTL, the only field that changes from
/// hop to hop.
const TTL_LEN: usize = 4;

/// Signs and verifies header MACs for one link direction.
///
/// Consecutive messages of a flow have the same preimage up to the TTL, which comes last, and
/// usually the same TTL too: the MAC covers the routing header only, not the session header
/// or the payload. So two results are kept from the previous message: the HMAC state after
/// absorbing the head (everything but the TTL), and the tag of the whole preimage. A message
/// whose preimage is byte for byte the previous one reuses the tag (no hashing at all); one
/// whose head matches hashes only its TTL and the finalisation (two or three SHA-256 blocks);
/// any other hashes everything (about five blocks for typical names). HMAC is deterministic,
/// so the cached tag is exactly the one hashing would give.
#[derive(Clone, Debug)]
pub struct HeaderMac {
    key: MacKey,
    preimage: Vec<u8>,
    /// The preimage of the previous message without its TTL.
    head: Vec<u8>,
    /// The keyed HMAC state after absorbing `head`.
    head_state: Option<HmacSha256>,
    /// The previous message's TTL bytes and tag (valid while `head_state` is).
    last_tag: Option<([u8; TTL_LEN], Tag)>,
    /// The previous frame's header bytes and what was found for them.
    memo: HeaderMemo,
}

/// Longest header remembered by [`HeaderMemo`]; longer ones (a very long identity token) are
/// always recomputed.
const MEMO_MAX_HEADER: usize = 1024;

/// What a [`HeaderMac`] last found for a frame, and for which header. The MAC input and the
/// tag are functions of the header's bytes, so a frame with the same header has the same
/// input and the same tag, and recognising the header (one comparison) replaces writing the
/// preimage field by field (about two thousand instructions). A flow's frames nearly always
/// repeat their header. A header is recognised by the [`HeaderKey`] the parser gave it (equal
/// keys: equal bytes outside the MAC's value), else by its bytes exactly as received.
#[derive(Clone, Debug, Default)]
struct HeaderMemo {
    key: Option<HeaderKey>,
    /// The header's bytes, kept only for a frame without a key.
    header: Vec<u8>,
    found: Option<Found>,
}

/// A result remembered for a header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Found {
    /// The frame carried this tag, and it verified.
    Verified { tag: Tag },
    /// The tag of the frame as forwarded with this TTL.
    Signed { ttl: u32, tag: Tag },
}

impl HeaderMemo {
    fn recall(&self, frame: &Frame, header: &[u8]) -> Option<Found> {
        let same = match (self.key, frame.header_key()) {
            (Some(kept), Some(key)) => kept == key,
            (None, None) => self.header == header,
            _ => false,
        };
        self.found.filter(|_| same)
    }

    fn remember(&mut self, frame: &Frame, header: &[u8], found: Found) {
        self.header.clear();
        self.key = frame.header_key();
        if self.key.is_none() {
            if header.len() > MEMO_MAX_HEADER {
                self.found = None;
                return;
            }
            self.header.extend_from_slice(header);
        }
        self.found = Some(found);
    }
}

impl HeaderMac {
    /// The tag of `input`.
    pub fn sign(&mut self, input: &MacInput<'_>) -> Tag {
        input.write_preimage(&self.key.link_id, &mut self.preimage);
        self.tag_of_preimage()
    }

    /// True when `tag` is the tag of `input`, compared in constant time.
    pub fn verify(&mut self, input: &MacInput<'_>, tag: &[u8]) -> bool {
        input.write_preimage(&self.key.link_id, &mut self.preimage);
        let expected = self.tag_of_preimage();
        let Ok(received) = <&Tag>::try_from(tag) else {
            return false;
        };
        // `CtOutput` compares in constant time.
        hmac::digest::CtOutput::<HmacSha256>::new(expected.into())
            == hmac::digest::CtOutput::new((*received).into())
    }

    /// The tag of the preimage in `self.preimage`, from the cache when possible.
    fn tag_of_preimage(&mut self) -> Tag {
        let split = self.preimage.len().saturating_sub(TTL_LEN);
        let (head, ttl) = self.preimage.split_at(split);
        let mut ttl_bytes = [0u8; TTL_LEN];
        ttl_bytes[..ttl.len()].copy_from_slice(ttl);
        let state = match &self.head_state {
            Some(state) if self.head == head => {
                if let Some((last_ttl, tag)) = self.last_tag
                    && last_ttl == ttl_bytes
                {
                    return tag;
                }
                state
            }
            _ => {
                let mut state = self.key.keyed.clone();
                state.update(head);
                self.head.clear();
                self.head.extend_from_slice(head);
                self.head_state.insert(state)
            }
        };
        let mut mac = state.clone();
        mac.update(ttl);
        let tag: Tag = mac.finalize().into_bytes().into();
        self.last_tag = Some((ttl_bytes, tag));
        tag
    }

    /// The tag of `frame` as it will be sent with `ttl` (`None` for frames without a header).
    pub fn sign_forwarded(&mut self, frame: &Frame, ttl: u32) -> Option<Tag> {
        let header = frame.header_bytes()?;
        if let Some(Found::Signed { ttl: memo_ttl, tag }) = self.memo.recall(frame, header)
            && memo_ttl == ttl
        {
            return Some(tag);
        }
        let tag = self.sign(&frame.mac_input_forwarded(ttl)?);
        self.memo
            .remember(frame, header, Found::Signed { ttl, tag });
        Some(tag)
    }

    /// True when `tag`, the MAC `frame` carries, is the tag of its header. A frame with the
    /// header and the tag of the previous frame that verified is accepted without
    /// recomputing: same header, same input, same tag. The byte comparison is not
    /// constant-time, but it only ever compares against a tag the peer already sent on
    /// this link and had accepted, so it reveals nothing the peer does not know.
    pub fn verify_frame(&mut self, frame: &Frame, tag: &[u8]) -> bool {
        let Some(header) = frame.header_bytes() else {
            return false;
        };
        if let Some(Found::Verified { tag: known }) = self.memo.recall(frame, header)
            && known[..] == *tag
        {
            return true;
        }
        let Some(input) = frame.mac_input_received() else {
            return false;
        };
        let verified = self.verify(&input, tag);
        if verified && let Ok(tag) = Tag::try_from(tag) {
            self.memo.remember(frame, header, Found::Verified { tag });
        }
        verified
    }
}

/// Why an inbound frame failed the MAC check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MacError {
    /// Strict link and the frame carries no tag.
    #[error("header MAC missing")]
    Missing,
    /// The tag does not match.
    #[error("header MAC does not match")]
    Mismatch,
    /// The frame carries a tag but the link negotiated no key (a legacy peer).
    #[error("header MAC present on a link without a MAC key")]
    Unexpected,
}

impl MacError {
    /// Short label for metrics.
    pub fn reason(self) -> &'static str {
        match self {
            MacError::Missing => "mac_missing",
            MacError::Mismatch => "mac_mismatch",
            MacError::Unexpected => "mac_unexpected",
        }
    }
}

/// The receive side's MAC policy for one link.
#[derive(Debug, Clone)]
pub struct InboundMac {
    mac: Option<HeaderMac>,
    strict: bool,
    /// Peer links: tags are neither required nor checked (see [`InboundMac::for_link`]).
    ignore_tags: bool,
}

impl InboundMac {
    /// A policy for a link with `key` (none for legacy peers); `strict` refuses untagged
    /// frames.
    pub fn new(key: Option<&MacKey>, strict: bool) -> Self {
        InboundMac {
            mac: key.map(MacKey::header_mac),
            strict,
            ignore_tags: false,
        }
    }

    /// The policy for a negotiated link of `connection_type`. Upstream signs and verifies
    /// header MACs only on edge and remote links. On peer links it neither signs nor clears the
    /// tag, so frames arrive carrying the previous hop's tag, which no key here can verify:
    /// tags on peer links are ignored, as upstream does. (We still sign what we send there;
    /// upstream ignores it.) Integrity of peer links rests on mTLS, which is also the only
    /// protection against an active man in the middle, since negotiation is unauthenticated.
    pub fn for_link(key: Option<&MacKey>, strict: bool, connection_type: ConnectionType) -> Self {
        InboundMac {
            ignore_tags: connection_type == ConnectionType::Peer,
            ..Self::new(key, strict)
        }
    }

    /// Checks one received frame. Frames without a routing header (link, subscription ack)
    /// carry no tag and always pass.
    pub fn check(&mut self, frame: &Frame) -> Result<(), MacError> {
        if self.ignore_tags {
            return Ok(());
        }
        if !frame.has_header() {
            return Ok(());
        }
        match (&mut self.mac, frame.header_mac()) {
            (Some(mac), Some(tag)) => {
                if mac.verify_frame(frame, tag) {
                    Ok(())
                } else {
                    Err(MacError::Mismatch)
                }
            }
            (Some(_), None) if self.strict => Err(MacError::Missing),
            (Some(_), None) => Ok(()),
            (None, Some(_)) => Err(MacError::Unexpected),
            (None, None) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slim_wire::{Name, builders};

    fn frame(ttl: u32) -> Frame {
        frame_with(ttl, "")
    }

    fn frame_with(ttl: u32, identity: &str) -> Frame {
        let a = Name::new("org", "ns", "a").unwrap();
        let b = Name::new("org", "ns", "b").unwrap();
        let mut message = builders::publish(&a, &b, 1, "msg", bytes::Bytes::from_static(b"hi"));
        if let Some(slim_wire::proto::message::MessageType::Publish(p)) = &mut message.message_type
        {
            let header = p.header.as_mut().unwrap();
            header.ttl = ttl;
            header.identity = identity.to_owned();
        }
        Frame::from_message(&message).unwrap()
    }

    /// The header memo gives exactly what computing gives, whatever the order of uses: a
    /// repeated header and TTL, another TTL, another header, one too long to remember, a
    /// forged tag, and signing and verifying on the same instance.
    #[test]
    fn header_memo_gives_what_computing_gives() {
        let key = MacKey::new("link", &[4u8; 32]);
        let fresh = |f: &Frame, ttl: u32| key.header_mac().sign_forwarded(f, ttl).unwrap();
        let a = frame(8);
        let b = frame_with(8, "someone");
        let long = frame_with(8, &"t".repeat(2 * MEMO_MAX_HEADER));
        // As received from a previous hop: the parser's key names the header, whatever the
        // incoming tag (a_in and a_in2 share it, the long one has none).
        let received =
            |f: &Frame, tag: u8| Frame::parse(f.to_forwarded_bytes(8, Some(&[tag; 32]))).unwrap();
        let (a_in, a_in2, b_in, long_in) = (
            received(&a, 1),
            received(&a, 2),
            received(&b, 1),
            received(&long, 1),
        );
        assert_eq!(a_in.header_key(), a_in2.header_key());
        assert!(long_in.header_key().is_none());
        let mut mac = key.header_mac();
        let uses = [
            (&a, 7),
            (&a, 7),
            (&a, 6),
            (&b, 6),
            (&long, 7),
            (&long, 7),
            (&a, 7),
            (&a_in, 7),
            (&a_in2, 7),
            (&a_in2, 6),
            (&b_in, 6),
            (&long_in, 6),
            (&a_in, 6),
            (&a, 6),
        ];
        for (f, ttl) in uses {
            let tag = mac.sign_forwarded(f, ttl).unwrap();
            assert_eq!(tag, fresh(f, ttl), "ttl {ttl}");
            assert_eq!(mac.sign_forwarded(f, ttl).unwrap(), tag);
            let sent = Frame::parse(f.to_forwarded_bytes(ttl, Some(&tag))).unwrap();
            let mut wrong = tag;
            wrong[0] ^= 1;
            let forged = Frame::parse(f.to_forwarded_bytes(ttl, Some(&wrong))).unwrap();
            for _ in 0..2 {
                assert!(mac.verify_frame(&sent, sent.header_mac().unwrap()));
                assert!(!mac.verify_frame(&forged, forged.header_mac().unwrap()));
            }
        }
        // Signing alone, one header after another (no verification in between).
        for f in [&a_in, &b_in, &a_in2, &long_in, &a_in] {
            assert_eq!(mac.sign_forwarded(f, 5).unwrap(), fresh(f, 5));
        }
    }

    /// HMAC-SHA256 computed independently (Python `hmac`) over the preimage slim-wire writes.
    #[test]
    fn peer_links_ignore_tags_as_upstream_does() {
        let key = MacKey::new("L", &[7u8; 32]);
        let untagged = frame(8);
        let mut peer = InboundMac::for_link(Some(&key), true, ConnectionType::Peer);
        assert_eq!(peer.check(&untagged), Ok(()));
        // Upstream forwards the previous hop's tag on peer links.
        let stale = Frame::parse(untagged.to_forwarded_bytes(8, Some(&[0u8; 32]))).unwrap();
        assert_eq!(peer.check(&stale), Ok(()));
        for strict_type in [ConnectionType::Edge, ConnectionType::Remote] {
            let mut inbound = InboundMac::for_link(Some(&key), true, strict_type);
            assert_eq!(inbound.check(&untagged), Err(MacError::Missing));
        }
    }

    #[test]
    fn tag_is_hmac_sha256_of_the_preimage() {
        let key = MacKey::new("L", &[7u8; 32]);
        let mut mac = key.header_mac();
        let input = MacInput {
            source: None,
            destination: None,
            identity: b"",
            fanout: 0,
            recv_from: None,
            forward_to: None,
            error: None,
            ttl: 0,
        };
        let tag = mac.sign(&input);
        assert_eq!(
            tag.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "bfab3894ffc01cf46fffb0e253e6be14b97b46fd7d437f896fdbb389aa88de5f"
        );
    }

    #[test]
    fn signed_frame_verifies_and_tampering_is_caught() {
        let key = MacKey::new("link", &[3u8; 32]);
        let mut signer = key.header_mac();
        let original = frame(8);
        let tag = signer.sign_forwarded(&original, 7).unwrap();
        let sent = Frame::parse(original.to_forwarded_bytes(7, Some(&tag))).unwrap();

        let mut inbound = InboundMac::new(Some(&key), true);
        assert_eq!(inbound.check(&sent), Ok(()));

        // Same bytes with another TTL: the tag no longer matches.
        let tampered = Frame::parse(sent.to_forwarded_bytes(6, Some(&tag))).unwrap();
        assert_eq!(inbound.check(&tampered), Err(MacError::Mismatch));

        // Another link's key does not verify it either.
        let other = MacKey::new("other", &[3u8; 32]);
        assert_eq!(
            InboundMac::new(Some(&other), true).check(&sent),
            Err(MacError::Mismatch)
        );
    }

    /// Reusing the head state gives the same tags as hashing everything, across TTL changes,
    /// a changed head and a return to the first head.
    #[test]
    fn cached_head_gives_the_plain_hmac() {
        let key = MacKey::new("link", &[5u8; 32]);
        let plain = |frame: &Frame, ttl: u32| {
            let mut preimage = Vec::new();
            frame
                .mac_input_forwarded(ttl)
                .unwrap()
                .write_preimage(key.link_id(), &mut preimage);
            let mut mac = key.keyed.clone();
            mac.update(&preimage);
            let tag: Tag = mac.finalize().into_bytes().into();
            tag
        };
        let a = frame(8);
        let x = Name::new("org", "ns", "x").unwrap();
        let other = Frame::from_message(&builders::publish(
            &x,
            &x,
            2,
            "msg",
            bytes::Bytes::from_static(b"other"),
        ))
        .unwrap();
        let mut mac = key.header_mac();
        for (f, ttl) in [(&a, 8), (&a, 7), (&a, 7), (&other, 8), (&a, 6), (&other, 1)] {
            let tag = mac.sign_forwarded(f, ttl).unwrap();
            assert_eq!(tag, plain(f, ttl), "ttl {ttl}");
            let sent = Frame::parse(f.to_forwarded_bytes(ttl, Some(&tag))).unwrap();
            assert_eq!(InboundMac::new(Some(&key), true).check(&sent), Ok(()));
        }
    }

    /// A repeated preimage reuses the previous tag; verification still compares the received
    /// tag, so a wrong or truncated one fails on a cache hit too.
    #[test]
    fn repeated_preimages_reuse_the_tag_and_still_check_it() {
        let key = MacKey::new("link", &[9u8; 32]);
        let input = frame(8);
        let mut signer = key.header_mac();
        let first = signer.sign_forwarded(&input, 7).unwrap();
        assert_eq!(signer.sign_forwarded(&input, 7).unwrap(), first);
        assert!(signer.last_tag.is_some());

        let sent = Frame::parse(input.to_forwarded_bytes(7, Some(&first))).unwrap();
        let mut wrong = first;
        wrong[31] ^= 1;
        let forged = Frame::parse(input.to_forwarded_bytes(7, Some(&wrong))).unwrap();
        let mut inbound = InboundMac::new(Some(&key), true);
        for _ in 0..2 {
            assert_eq!(inbound.check(&sent), Ok(()));
            assert_eq!(inbound.check(&forged), Err(MacError::Mismatch));
        }
        let mut verifier = key.header_mac();
        let mac_input = sent.mac_input_received().unwrap();
        assert!(verifier.verify(&mac_input, &first));
        assert!(!verifier.verify(&mac_input, &first[..31]));
        assert!(!verifier.verify(&mac_input, &[]));
    }

    #[test]
    fn policy_for_untagged_and_legacy_links() {
        let key = MacKey::new("link", &[3u8; 32]);
        let untagged = frame(8);
        assert_eq!(
            InboundMac::new(Some(&key), true).check(&untagged),
            Err(MacError::Missing)
        );
        assert_eq!(InboundMac::new(Some(&key), false).check(&untagged), Ok(()));
        assert_eq!(InboundMac::new(None, false).check(&untagged), Ok(()));

        let tag = key.header_mac().sign_forwarded(&untagged, 8).unwrap();
        let tagged = Frame::parse(untagged.to_forwarded_bytes(8, Some(&tag))).unwrap();
        assert_eq!(
            InboundMac::new(None, false).check(&tagged),
            Err(MacError::Unexpected)
        );

        // Acks never carry a tag and always pass.
        let ack = Frame::from_message(&builders::subscription_ack(5, None)).unwrap();
        assert_eq!(InboundMac::new(Some(&key), true).check(&ack), Ok(()));
    }
}
