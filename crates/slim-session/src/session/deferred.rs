//! [`Deferred`]: reliable data received while the application inbox was full, kept
//! unacknowledged until the application reads (see `data.rs` for the flow control).
//!
//! The sender retransmits what it has not seen acknowledged, so the same message can arrive
//! again while its first copy still waits here. Telling the copies apart must not cost a scan
//! of the queue: with a large window the queue holds thousands of messages, and a linear
//! check per arrival once made a 16 384-message window run at a tenth of the speed of a
//! 512-message one. A set of (sender, message id) beside the queue keeps it constant.

use std::collections::VecDeque;

use slim_wire::NameKey;

use crate::fast_hash::FastSet;
use crate::wire::Inbound;

/// Deferred messages in arrival order, each (sender, id) at most once.
#[derive(Debug, Default)]
pub(super) struct Deferred {
    queue: VecDeque<Box<Inbound>>,
    held: FastSet<(NameKey, u32)>,
    /// Payload bytes in `queue`.
    bytes: usize,
}

impl Deferred {
    /// Messages held.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Payload bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Keeps `message` unless a copy of it is already held. False for a copy.
    pub fn push(&mut self, message: Box<Inbound>) -> bool {
        if !self.held.insert((message.source.key(), message.message_id)) {
            return false;
        }
        self.bytes += message.payload_len();
        self.queue.push_back(message);
        true
    }

    /// The oldest message, which leaves the set: a later copy of it is new again.
    pub fn pop(&mut self) -> Option<Box<Inbound>> {
        let message = self.queue.pop_front()?;
        self.bytes = self.bytes.saturating_sub(message.payload_len());
        self.held
            .remove(&(message.source.key(), message.message_id));
        Some(message)
    }

    /// Forgets everything (the session closed).
    pub fn clear(&mut self) {
        self.queue.clear();
        self.held.clear();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::Deferred;
    use crate::reliable::tests::{msg, name};

    #[test]
    fn a_copy_is_refused_while_its_first_copy_waits_and_accepted_once_it_left() {
        let (alice, bob) = (name("alice", 1), name("bob", 2));
        let mut deferred = Deferred::default();
        assert!(deferred.push(msg(&alice, 1)));
        assert!(deferred.push(msg(&bob, 1)), "same id, another sender");
        assert!(deferred.push(msg(&alice, 2)));
        assert!(!deferred.push(msg(&alice, 1)), "a retransmitted copy");
        assert_eq!(deferred.len(), 3);
        assert_eq!(
            deferred.bytes(),
            12,
            "three 4-byte payloads; the copy not counted"
        );

        let first = deferred.pop().map(|m| (m.source, m.message_id));
        assert_eq!(first, Some((alice.clone(), 1)));
        assert_eq!(deferred.bytes(), 8);
        assert!(deferred.push(msg(&alice, 1)), "its first copy has left");
        deferred.clear();
        assert_eq!(deferred.len(), 0);
        assert_eq!(deferred.bytes(), 0);
        assert!(deferred.pop().is_none());
        assert!(deferred.push(msg(&bob, 1)));
    }
}
