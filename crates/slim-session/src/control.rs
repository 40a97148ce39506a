//! [`ControlSender`]: reliable delivery of control requests.
//!
//! Every request that expects replies (discovery, join, welcome, group update, leave, close,
//! participant state, rejoin) is registered with the names it waits for. It is retransmitted
//! unchanged (the outbound pipeline re-seals it with a fresh token) every `interval` until
//! all replies arrived or `max_retries` ran out; then the owner learns who never answered.
//! Replies are matched by message id and sender; duplicates and strangers are ignored, so a
//! retransmitted request answered twice does no harm.
//!
//! Discovery is special: it goes to a name without instance id and is answered by whichever
//! instance the node picked, so its expected name is matched on the three components only.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Instant;

use slim_wire::Name;

use crate::config::Retries;
use crate::wire::Outbound;

#[derive(Debug)]
struct Pending<P> {
    message: Outbound,
    waiting: Vec<Name>,
    /// Match replies on service components only (discovery).
    any_instance: bool,
    retries_left: u32,
    deadline: Instant,
    purpose: P,
}

/// What a reply did to its request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ReplyOutcome<P> {
    /// No pending request with this id expects a reply from this sender.
    Unexpected,
    /// Counted; other replies are still awaited.
    Partial,
    /// The last awaited reply: the request is finished.
    Done(P),
}

/// A request that ran out of retries, with the names that never answered.
#[derive(Debug)]
pub(crate) struct Expired<P> {
    pub purpose: P,
    pub missing: Vec<Name>,
}

/// Pending control requests of one session.
#[derive(Debug)]
pub(crate) struct ControlSender<P> {
    retries: Retries,
    pending: HashMap<u32, Pending<P>>,
    timers: BinaryHeap<Reverse<(Instant, u32)>>,
}

impl<P: Clone> ControlSender<P> {
    /// An empty sender with the given timers.
    pub fn new(retries: Retries) -> Self {
        ControlSender {
            retries,
            pending: HashMap::new(),
            timers: BinaryHeap::new(),
        }
    }

    /// Registers `message` (id = its message id), to be answered by every name in `waiting`.
    /// Returns the message for its first transmission. With nobody to wait for, the request
    /// is sent once and not tracked.
    pub fn send(
        &mut self,
        now: Instant,
        message: Outbound,
        waiting: Vec<Name>,
        any_instance: bool,
        purpose: P,
    ) -> Outbound {
        let id = message.message_id();
        if !waiting.is_empty() {
            let deadline = now + self.retries.interval;
            self.timers.push(Reverse((deadline, id)));
            self.pending.insert(
                id,
                Pending {
                    message: message.clone(),
                    waiting,
                    any_instance,
                    retries_left: self.retries.max_retries,
                    deadline,
                    purpose,
                },
            );
        }
        message
    }

    /// True when a request with this id is pending.
    pub fn is_pending(&self, id: u32) -> bool {
        self.pending.contains_key(&id)
    }

    /// Counts a reply to request `id` from `from`.
    pub fn on_reply(&mut self, id: u32, from: &Name) -> ReplyOutcome<P> {
        let Some(pending) = self.pending.get_mut(&id) else {
            return ReplyOutcome::Unexpected;
        };
        let any = pending.any_instance;
        let Some(pos) = pending
            .waiting
            .iter()
            .position(|n| if any { n.same_service(from) } else { n == from })
        else {
            return ReplyOutcome::Unexpected;
        };
        pending.waiting.swap_remove(pos);
        if !pending.waiting.is_empty() {
            return ReplyOutcome::Partial;
        }
        match self.pending.remove(&id) {
            Some(done) => ReplyOutcome::Done(done.purpose),
            None => ReplyOutcome::Unexpected,
        }
    }

    /// Stops waiting for `name` everywhere (it left or went offline). Returns the requests
    /// this finished.
    pub fn forget(&mut self, name: &Name) -> Vec<P> {
        let mut done = Vec::new();
        self.pending.retain(|_, p| {
            p.waiting.retain(|n| n != name);
            if p.waiting.is_empty() {
                done.push(p.purpose.clone());
                false
            } else {
                true
            }
        });
        done
    }

    /// Drops every request.
    pub fn clear(&mut self) {
        self.pending.clear();
        self.timers.clear();
    }

    /// Earliest retransmission deadline.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((t, _))| *t)
    }

    /// Retransmits due requests into `resend`; returns those out of retries.
    pub fn on_timeout(&mut self, now: Instant, resend: &mut Vec<Outbound>) -> Vec<Expired<P>> {
        let mut expired = Vec::new();
        while let Some(Reverse((deadline, id))) = self.timers.peek().copied() {
            if deadline > now {
                break;
            }
            self.timers.pop();
            let Some(pending) = self.pending.get_mut(&id) else {
                continue;
            };
            if pending.deadline != deadline {
                continue;
            }
            if pending.retries_left == 0 {
                if let Some(p) = self.pending.remove(&id) {
                    expired.push(Expired {
                        purpose: p.purpose,
                        missing: p.waiting,
                    });
                }
                continue;
            }
            pending.retries_left -= 1;
            pending.deadline = now + self.retries.interval;
            self.timers.push(Reverse((pending.deadline, id)));
            resend.push(pending.message.clone());
        }
        expired
    }
}
