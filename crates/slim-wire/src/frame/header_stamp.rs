//! [`HeaderStamp`]: a copy of a routing header's bytes that recognises the same header in a
//! later frame, whatever MAC the later frame carries.
//!
//! Everything a routing header says (names, identity token, fanout, TTL, flags) is in its
//! bytes; the link's MAC is the only part that changes between consecutive frames of a flow,
//! and its value says nothing about the rest. Two headers of equal length whose bytes agree
//! outside the MAC's value therefore parse alike (the MAC field sits at the same place with
//! the same key and length) and carry the same names, token and hop fields. The parser's
//! header memo uses this to skip parsing a header again (and hands out a key that tells
//! later readers the same).

use super::Span;

/// A routing header's bytes, and where its MAC's value is among them.
#[derive(Debug, Clone, Default)]
pub(super) struct HeaderStamp {
    /// The whole `header` field, key and length included.
    bytes: Vec<u8>,
    /// The MAC's value inside `bytes` (relative), whose content is not compared.
    mac: Option<Span>,
}

impl HeaderStamp {
    /// Becomes the stamp of the header field `bytes` whose MAC value is at `mac` (relative).
    pub(super) fn set_bytes(&mut self, bytes: &[u8], mac: Option<Span>) {
        self.bytes.clear();
        self.bytes.extend_from_slice(bytes);
        self.mac = mac;
    }

    /// True when the header field `header` equals the stamped one outside the MAC's value.
    pub(super) fn matches_bytes(&self, header: &[u8]) -> bool {
        if self.bytes.len() != header.len() || self.bytes.is_empty() {
            return false;
        }
        let Some(mac) = self.mac else {
            return self.bytes == header;
        };
        let (start, end) = (mac.start as usize, mac.end as usize);
        self.bytes.get(..start) == header.get(..start) && self.bytes.get(end..) == header.get(end..)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::{Frame, InstanceId, Name, builders};

    fn frame_with(ttl: u32, mac: Option<&[u8; 32]>, payload: &'static [u8]) -> Frame {
        let name = |s: &str| s.parse::<Name>().unwrap();
        let message = builders::publish(
            &name("org/ns/alice").with_id(InstanceId(42)),
            &name("org/ns/bob"),
            1,
            "msg",
            Bytes::from_static(payload),
        );
        let frame = Frame::from_message(&message).unwrap();
        Frame::parse(frame.to_forwarded_bytes(ttl, mac)).unwrap()
    }

    /// The header field of `frame` and its MAC's place in it, as the memo takes them.
    fn header_of(frame: &Frame) -> (&[u8], Option<Span>) {
        let header = frame.data.header.as_ref().unwrap();
        let mac = header.mac.map(|mac| mac.relative_to(header.field.start));
        (&frame.bytes()[header.field.range()], mac)
    }

    fn stamp_of(frame: &Frame) -> HeaderStamp {
        let (bytes, mac) = header_of(frame);
        let mut stamp = HeaderStamp::default();
        stamp.set_bytes(bytes, mac);
        stamp
    }

    fn matches(stamp: &HeaderStamp, frame: &Frame) -> bool {
        stamp.matches_bytes(header_of(frame).0)
    }

    #[test]
    fn the_same_header_matches_whatever_its_mac_and_payload() {
        let stamp = stamp_of(&frame_with(9, Some(&[1; 32]), b"one"));
        assert!(matches(
            &stamp,
            &frame_with(9, Some(&[2; 32]), b"two, longer")
        ));
        assert!(
            !matches(&stamp, &frame_with(8, Some(&[1; 32]), b"one")),
            "TTL"
        );
        assert!(!matches(&stamp, &frame_with(9, None, b"one")), "no MAC");
        let plain = stamp_of(&frame_with(9, None, b"one"));
        assert!(matches(&plain, &frame_with(9, None, b"other")));
        assert!(!matches(&plain, &frame_with(9, Some(&[1; 32]), b"one")));
    }

    #[test]
    fn an_empty_stamp_matches_nothing() {
        assert!(!HeaderStamp::default().matches_bytes(&[]));
        assert!(!matches(
            &HeaderStamp::default(),
            &frame_with(9, None, b"one")
        ));
    }
}
