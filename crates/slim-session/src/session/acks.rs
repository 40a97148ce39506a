//! [`HeldAcks`]: acknowledgements of received data, held back briefly so they share a write
//! with whatever the session sends next.
//!
//! Acknowledging every message the moment it arrives costs a write of its own, and a node
//! hop and a wake-up on the sender, on the critical path of whatever answer the application
//! is about to send: a request/reply round trip took about 80 µs with immediate acks and
//! 44 µs without any (`docs/benchmarks.md`, stop 13). Nothing on the wire asks for that
//! haste: upstream senders retransmit after a second. So an acknowledgement waits until the
//! first of
//!
//! - the session sends anything else (typically the application's answer): acks go first,
//!   in the same batch of writes;
//! - the application has read everything it was given and waits for more (the driver then
//!   calls `SessionLayer::flush_acks`): nothing will come to share a write with;
//! - [`LayerConfig::ack_batch`](crate::LayerConfig) acks are held: a sender's window must
//!   keep moving while a busy reader never idles;
//! - [`LayerConfig::ack_delay`](crate::LayerConfig) has passed since the first was held:
//!   the bound for an application that neither answers nor reads.
//!
//! Acks of duplicates and of a closing session are never held: the sender is already
//! retrying, or nothing else will follow.

use std::time::Instant;

use crate::wire::Outbound;

/// Acknowledgements waiting to go out, oldest first.
#[derive(Debug, Default)]
pub(super) struct HeldAcks {
    acks: Vec<Outbound>,
    /// When the oldest one must go at the latest.
    due: Option<Instant>,
}

impl HeldAcks {
    /// Holds `ack` until `now + delay` at the latest. True when `batch` acks are held now:
    /// the caller sends them at once.
    pub fn hold(&mut self, ack: Outbound, due: Instant, batch: usize) -> bool {
        self.due.get_or_insert(due);
        self.acks.push(ack);
        self.acks.len() >= batch.max(1)
    }

    /// Everything held, in order, leaving nothing due.
    pub fn take(&mut self) -> Vec<Outbound> {
        self.due = None;
        std::mem::take(&mut self.acks)
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.acks.is_empty()
    }

    /// When the held acks must go out at the latest.
    pub fn due(&self) -> Option<Instant> {
        self.due
    }
}
