//! The data path: per-sender message ids, acknowledgements, retransmission, ordering.
//!
//! - `seq.rs`: 31-bit serial-number arithmetic of data message ids.
//! - `rtt.rs`: the round-trip estimate behind the data retransmission timeout.
//! - `sender.rs`: [`DataSender`], the outbound window (ids, acks, retransmission, RTX
//!   replies, flow control).
//! - `receiver.rs`: [`DataReceiver`], per-source reorder buffers, RTX requests, loss
//!   reporting.
//!
//! Neither side knows about MLS, identity or the session roster: they work on plaintext
//! [`crate::wire::Outbound`] / [`crate::wire::Inbound`] messages and member names, and report
//! what they want sent or delivered through [`Effects`].

mod receiver;
mod rtt;
mod sender;
pub(crate) mod seq;
#[cfg(test)]
pub(crate) mod tests;

pub(crate) use receiver::{Classification, DataReceiver, Received};
pub(crate) use sender::{AppPayload, DataSender, Removal, SenderAddress};

use slim_wire::Name;

use crate::event::{CompletionError, CompletionId};
use crate::wire::Outbound;

/// What the data path wants done, collected by the session after each call.
#[derive(Default, Debug)]
pub(crate) struct Effects {
    /// Messages to seal and transmit.
    pub transmit: Vec<Outbound>,
    /// Messages sealed before, to transmit again exactly as they were.
    pub repeat: Vec<slim_wire::proto::Message>,
    /// Publishes that finished.
    pub completions: Vec<(CompletionId, Result<(), CompletionError>)>,
    /// Members whose acknowledgements stopped coming (retries exhausted).
    pub unresponsive: Vec<Name>,
    /// Messages (or losses) ready for the application, in per-source order.
    pub received: Vec<Received>,
    /// True when the window regained room after a `WouldBlock`.
    pub writable: bool,
}

/// Effect vectors with at most this much capacity are kept for reuse.
const KEPT_CAPACITY: usize = 16;

impl Effects {
    /// True when no vector grew past what is worth keeping between calls.
    pub fn is_small(&self) -> bool {
        self.transmit.capacity() <= KEPT_CAPACITY
            && self.repeat.capacity() <= KEPT_CAPACITY
            && self.completions.capacity() <= KEPT_CAPACITY
            && self.received.capacity() <= KEPT_CAPACITY
    }
}
