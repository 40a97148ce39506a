//! Frames for unit tests: a publish that carries its number as its only payload byte, so a
//! test can check which frames arrived and in what order.

use bytes::Bytes;
use slim_wire::{Frame, Name, builders};

/// A publish from `org/ns/me` to itself whose payload is the single byte `n`.
pub(crate) fn numbered(n: u8) -> Frame {
    let me = Name::new("org", "ns", "me").unwrap();
    let message = builders::publish(&me, &me, 1, "msg", Bytes::from(vec![n]));
    Frame::from_message(&message).unwrap()
}
