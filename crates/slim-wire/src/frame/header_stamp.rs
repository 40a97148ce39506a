//! [`HeaderStamp`]: a copy of a routing header's bytes that recognises the same header in a
//! later frame, whatever MAC the later frame carries.
//!
//! Everything a routing header says (names, identity token, fanout, TTL, flags) is in its
//! bytes; the link's MAC is the only part that changes between consecutive frames of a flow,
//! and its value says nothing about the rest. Two headers of equal length whose bytes agree
//! outside the MAC's value therefore parse alike (the MAC field sits at the same place with
//! the same key and length) and carry the same names, token and hop fields. The parser's
//! header memo and an application's session layer both use this to skip work they did for
//! the previous frame of the flow.

use super::{Frame, Span};

/// A routing header's bytes, and where its MAC's value is among them.
#[derive(Debug, Clone, Default)]
pub struct HeaderStamp {
    /// The whole `header` field, key and length included.
    bytes: Vec<u8>,
    /// The MAC's value inside `bytes` (relative), whose content is not compared.
    mac: Option<Span>,
}

impl HeaderStamp {
    /// The stamp of `frame`'s routing header; `None` when the frame has none.
    pub fn of(frame: &Frame) -> Option<HeaderStamp> {
        let mut stamp = HeaderStamp::default();
        stamp.set(frame).then_some(stamp)
    }

    /// Becomes the stamp of `frame`'s routing header, reusing this one's buffer. False (and
    /// empty) when the frame has no header.
    pub fn set(&mut self, frame: &Frame) -> bool {
        self.bytes.clear();
        self.mac = None;
        let Some(header) = frame.data.header.as_ref() else {
            return false;
        };
        let Some(bytes) = frame.data.bytes.get(header.field.range()) else {
            return false;
        };
        self.set_bytes(
            bytes,
            header.mac.map(|mac| mac.relative_to(header.field.start)),
        );
        true
    }

    /// Becomes the stamp of the header field `bytes` whose MAC value is at `mac` (relative).
    pub(super) fn set_bytes(&mut self, bytes: &[u8], mac: Option<Span>) {
        self.bytes.clear();
        self.bytes.extend_from_slice(bytes);
        self.mac = mac;
    }

    /// True when `frame`'s routing header is this one, its MAC's value aside.
    pub fn matches(&self, frame: &Frame) -> bool {
        let Some(header) = frame.data.header.as_ref() else {
            return false;
        };
        frame
            .data
            .bytes
            .get(header.field.range())
            .is_some_and(|bytes| self.matches_bytes(bytes))
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
    use crate::{InstanceId, Name, builders};

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

    #[test]
    fn the_same_header_matches_whatever_its_mac_and_payload() {
        let stamp = HeaderStamp::of(&frame_with(9, Some(&[1; 32]), b"one")).unwrap();
        assert!(stamp.matches(&frame_with(9, Some(&[2; 32]), b"two, longer")));
        assert!(
            !stamp.matches(&frame_with(8, Some(&[1; 32]), b"one")),
            "TTL"
        );
        assert!(!stamp.matches(&frame_with(9, None, b"one")), "no MAC");
        let plain = HeaderStamp::of(&frame_with(9, None, b"one")).unwrap();
        assert!(plain.matches(&frame_with(9, None, b"other")));
        assert!(!plain.matches(&frame_with(9, Some(&[1; 32]), b"one")));
    }

    #[test]
    fn a_frame_without_header_has_no_stamp_and_an_empty_stamp_matches_nothing() {
        let link = builders::link_negotiation(Default::default());
        let link = Frame::from_message(&link).unwrap();
        assert!(HeaderStamp::of(&link).is_none());
        let mut stamp = HeaderStamp::default();
        assert!(!stamp.matches(&frame_with(9, None, b"one")));
        assert!(stamp.set(&frame_with(9, None, b"one")));
        assert!(!stamp.set(&link));
        assert!(
            !stamp.matches(&frame_with(9, None, b"one")),
            "emptied by the failed set"
        );
    }
}
