//! [`DataReceiver`]: the inbound half of a session's data path.
//!
//! Reliable mode keeps one reorder buffer per source and delivers each source's messages in
//! id order. A gap still open after a short reorder grace triggers one `RtxRequest` per
//! missing id, retried on a timer; a missing
//! message whose requests run out, or whose sender answers with an error, is reported as
//! lost *in its place* and delivery continues with the next one (upstream tears the session
//! down instead).
//!
//! Per source, every id in `next .. next + known` is exactly one of: received (buffered),
//! requested (missing), or given up (a lost tombstone). Delivery pops the front while it is
//! not missing.
//!
//! Where a source's stream starts: ids start at 1, so a first message with id 1 starts the
//! window there. A first message with a higher id may mean earlier ones were lost, or that we
//! joined the group mid-stream. If the gap is small (within the reorder capacity) the missing
//! ids are requested; losses before the first delivered message are then taken as "not meant
//! for us" (the sender refuses history to new members) and skipped silently. A large gap is
//! taken as a mid-stream join.
//!
//! Fire-and-forget mode delivers in arrival order, without acks, requests or buffering.
//! `PUBLISH_TO` messages always bypass ordering; a bounded set of recent ids drops their
//! duplicates.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

use slim_wire::proto::{SessionMessageType, SessionType};
use slim_wire::{Name, NameKey};

use super::{Effects, seq};
use crate::config::Retries;
use crate::fast_hash::{FastMap, FastSet};
use crate::wire::{Envelope, Inbound, Outbound};

/// Something for the application, in per-source order.
///
/// A message stays in the box the layer put it in when it arrived (see
/// `Session::handle`), so it is not copied again on its way to the application.
#[derive(Debug)]
pub(crate) enum Received {
    /// A message (payload already decrypted).
    Message(Box<Inbound>),
    /// A message lost for good.
    Lost { source: Name, message_id: u32 },
}

/// How a newly arrived data message relates to what was already received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Classification {
    /// Not seen before and within the window: accept (ack, decrypt, buffer).
    New,
    /// Already received (or given up): re-acknowledge and drop.
    Duplicate,
    /// Too far ahead of the delivered prefix: drop without ack (the sender retransmits).
    TooFarAhead,
    /// It would wait out of order, and the reorder buffers hold their byte bound already:
    /// drop without ack (the sender retransmits; the next id in order is always taken).
    NoRoom,
}

#[derive(Debug)]
enum Slot {
    Received(Box<Inbound>),
    /// Missing. `asked` is false during the reorder grace, before the first request.
    Requested {
        retries_left: u32,
        deadline: Instant,
        asked: bool,
    },
    Lost,
}

/// How long a gap may stay open before it is requested: long enough for ordinary
/// reordering to fill it, short against the retransmission interval. Upstream requests at
/// once, so every reordering costs a retransmission there.
fn reorder_grace(retries: &Retries) -> Duration {
    (retries.interval / 10).clamp(Duration::from_millis(1), Duration::from_millis(100))
}

#[derive(Debug)]
struct Source {
    name: Name,
    /// Next id to deliver.
    next: u32,
    /// The first id received from this source. While nothing is delivered yet, the ids
    /// before it are a guess (early losses, or history a new member is refused), so the
    /// reorder range is measured from here: requesting that guess must not push real
    /// messages out of range.
    anchor: u32,
    /// How many ids from `next` have a slot.
    known: u32,
    /// True until a message from this source has been delivered.
    initial: bool,
    slots: FastMap<u32, Slot>,
}

impl Source {
    /// Beyond the reorder range: counted from the first received id until something was
    /// delivered (at most `capacity` guessed gaps plus `capacity` received ahead), then from
    /// the next id to deliver.
    fn too_far(&self, id: u32, capacity: u32) -> bool {
        let from = if self.initial && seq::at_or_after(id, self.anchor) {
            self.anchor
        } else {
            self.next
        };
        seq::distance(from, id) >= capacity
    }
}

/// The inbound data path of one session.
#[derive(Debug)]
pub(crate) struct DataReceiver {
    me: Name,
    session_type: SessionType,
    session_id: u32,
    reliable: Option<Retries>,
    /// Largest distance ahead of `next` accepted per source.
    capacity: u32,
    sources: FastMap<NameKey, Source>,
    timers: BinaryHeap<Reverse<(Instant, NameKey, u32)>>,
    recent_direct: VecDeque<(NameKey, u32)>,
    recent_direct_set: FastSet<(NameKey, u32)>,
    /// Payload bytes held out of order, over all sources.
    buffered_bytes: usize,
    /// Most payload bytes held out of order before a message that would wait is refused.
    byte_bound: usize,
}

/// `PUBLISH_TO` ids remembered per session for duplicate detection.
const RECENT_DIRECT: usize = 1024;

impl DataReceiver {
    /// A receiver; `capacity` bounds each source's reorder range.
    pub fn new(
        me: Name,
        session_type: SessionType,
        session_id: u32,
        reliable: Option<Retries>,
        capacity: u32,
    ) -> Self {
        DataReceiver {
            me,
            session_type,
            session_id,
            reliable,
            capacity: capacity.max(1),
            sources: FastMap::default(),
            timers: BinaryHeap::new(),
            recent_direct: VecDeque::new(),
            recent_direct_set: FastSet::default(),
            buffered_bytes: 0,
            byte_bound: usize::MAX,
        }
    }

    /// Bounds the payload bytes held out of order, as `capacity` bounds the ids: an upstream
    /// sender bounds its window in messages only, so a window of large messages ahead of
    /// one lost message would otherwise all be held.
    pub fn limit_bytes(&mut self, bytes: usize) {
        self.byte_bound = bytes;
    }

    /// Payload bytes held out of order now (for tests of the byte bound).
    #[cfg(test)]
    pub fn buffered_bytes(&self) -> usize {
        self.buffered_bytes
    }

    /// True in reliable mode.
    pub fn is_reliable(&self) -> bool {
        self.reliable.is_some()
    }

    /// Classifies a data message (Msg or RTX reply).
    pub fn classify(&self, message: &Inbound, direct: bool) -> Classification {
        let (source, id) = (&message.source, message.message_id);
        if direct || !seq::is_sequential(id) {
            return if self.recent_direct_set.contains(&(source.key(), id)) {
                Classification::Duplicate
            } else {
                Classification::New
            };
        }
        if self.reliable.is_none() {
            return Classification::New;
        }
        let Some(state) = self.sources.get(&source.key()) else {
            return Classification::New;
        };
        if !seq::at_or_after(id, state.next) {
            return Classification::Duplicate;
        }
        if state.too_far(id, self.capacity) {
            return Classification::TooFarAhead;
        }
        match state.slots.get(&id) {
            Some(Slot::Received(_) | Slot::Lost) => Classification::Duplicate,
            // The next id is delivered at once and lets the buffer drain, so it is never
            // refused; an empty buffer takes any one message, however large.
            _ if id != state.next
                && self.buffered_bytes > 0
                && self.buffered_bytes.saturating_add(message.payload_len()) > self.byte_bound =>
            {
                Classification::NoRoom
            }
            Some(Slot::Requested { .. }) | None => Classification::New,
        }
    }

    /// Takes a `New` message (already decrypted) and delivers what became in order.
    pub fn accept(&mut self, now: Instant, message: Box<Inbound>, direct: bool, fx: &mut Effects) {
        let id = message.message_id;
        let key = message.source.key();
        if direct || !seq::is_sequential(id) {
            self.remember_direct(key, id);
            fx.received.push(Received::Message(message));
            return;
        }
        let Some(retries) = self.reliable else {
            fx.received.push(Received::Message(message));
            return;
        };
        let capacity = self.capacity;
        let state = self.sources.entry(key).or_insert_with(|| Source {
            name: message.source.clone(),
            // Where this source's stream starts (see the module docs).
            next: if id >= 1 && id - 1 < capacity { 1 } else { id },
            anchor: id,
            known: 0,
            initial: true,
            slots: FastMap::default(),
        });
        if !seq::at_or_after(id, state.next) {
            return; // behind: a duplicate that raced with classification
        }
        let offset = seq::distance(state.next, id);
        if state.too_far(id, capacity)
            || matches!(state.slots.get(&id), Some(Slot::Received(_) | Slot::Lost))
        {
            return;
        }
        if offset == 0 && state.known == 0 {
            // The next id with nothing buffered (the usual case): delivered at once, as
            // buffering it and delivering the buffer's front would, without the slot.
            state.initial = false;
            state.next = seq::next(state.next);
            fx.received.push(Received::Message(message));
            return;
        }
        let mut gaps = Vec::new();
        if offset >= state.known {
            let deadline = now + reorder_grace(&retries);
            for gap in state.known..offset {
                let gap_id = seq::add(state.next, gap);
                state.slots.insert(
                    gap_id,
                    Slot::Requested {
                        retries_left: retries.max_retries,
                        deadline,
                        asked: false,
                    },
                );
                gaps.push((gap_id, deadline));
            }
            state.known = offset + 1;
        }
        self.buffered_bytes += message.payload_len();
        state.slots.insert(id, Slot::Received(message));
        for (gap_id, deadline) in gaps {
            self.timers.push(Reverse((deadline, key, gap_id)));
        }
        self.deliver_ready(key, fx);
    }

    fn remember_direct(&mut self, key: NameKey, id: u32) {
        if self.recent_direct_set.insert((key, id)) {
            self.recent_direct.push_back((key, id));
            if self.recent_direct.len() > RECENT_DIRECT
                && let Some(old) = self.recent_direct.pop_front()
            {
                self.recent_direct_set.remove(&old);
            }
        }
    }

    fn rtx_request(&self, to: &Name, id: u32) -> Outbound {
        let envelope = Envelope {
            source: &self.me,
            destination: to,
            fanout: 1,
            session_type: self.session_type,
            session_id: self.session_id,
        };
        envelope.empty(SessionMessageType::RtxRequest, id, false)
    }

    /// Delivers the front of `key`'s buffer while it is not waiting for a retransmission.
    fn deliver_ready(&mut self, key: NameKey, fx: &mut Effects) {
        let Some(state) = self.sources.get_mut(&key) else {
            return;
        };
        while state.known > 0 {
            match state.slots.get(&state.next) {
                Some(Slot::Requested { .. }) | None => break,
                Some(_) => {}
            }
            let Some(slot) = state.slots.remove(&state.next) else {
                break;
            };
            match slot {
                Slot::Received(message) => {
                    self.buffered_bytes = self.buffered_bytes.saturating_sub(message.payload_len());
                    state.initial = false;
                    fx.received.push(Received::Message(message));
                }
                Slot::Lost if !state.initial => fx.received.push(Received::Lost {
                    source: state.name.clone(),
                    message_id: state.next,
                }),
                _ => {}
            }
            state.next = seq::next(state.next);
            state.known -= 1;
        }
    }

    /// The sender says `id` is gone (error RTX reply), or our requests for it ran out.
    pub fn on_lost(&mut self, source: &Name, id: u32, fx: &mut Effects) {
        let key = source.key();
        let Some(state) = self.sources.get_mut(&key) else {
            return;
        };
        if let Some(slot @ Slot::Requested { .. }) = state.slots.get_mut(&id) {
            *slot = Slot::Lost;
            self.deliver_ready(key, fx);
        }
    }

    /// Earliest RTX retry deadline.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((t, _, _))| *t)
    }

    /// Retries RTX requests that timed out; gives up on those out of retries.
    pub fn on_timeout(&mut self, now: Instant, fx: &mut Effects) {
        let Some(retries) = self.reliable else {
            self.timers.clear();
            return;
        };
        while let Some(Reverse((deadline, key, id))) = self.timers.peek().copied() {
            if deadline > now {
                break;
            }
            self.timers.pop();
            let Some(state) = self.sources.get_mut(&key) else {
                continue;
            };
            let Some(Slot::Requested {
                retries_left,
                deadline: current,
                asked,
            }) = state.slots.get_mut(&id)
            else {
                continue;
            };
            if *current != deadline {
                continue; // stale timer entry
            }
            if !*asked {
                // The reorder grace is over: ask for it.
                *asked = true;
                *current = now + retries.interval;
                let next = *current;
                let name = state.name.clone();
                fx.transmit.push(self.rtx_request(&name, id));
                self.timers.push(Reverse((next, key, id)));
                continue;
            }
            if *retries_left == 0 {
                let name = state.name.clone();
                self.on_lost(&name, id, fx);
                continue;
            }
            *retries_left -= 1;
            *current = now + retries.interval;
            let next = *current;
            let name = state.name.clone();
            fx.transmit.push(self.rtx_request(&name, id));
            self.timers.push(Reverse((next, key, id)));
        }
    }

    /// Forgets a source that left (a later rejoin starts a fresh stream).
    pub fn remove_source(&mut self, source: &Name) {
        if let Some(state) = self.sources.remove(&source.key()) {
            let held: usize = state
                .slots
                .values()
                .map(|slot| match slot {
                    Slot::Received(message) => message.payload_len(),
                    _ => 0,
                })
                .sum();
            self.buffered_bytes = self.buffered_bytes.saturating_sub(held);
        }
    }
}
