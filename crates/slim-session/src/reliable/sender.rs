//! [`DataSender`]: the outbound half of a session's data path.
//!
//! Reliable mode keeps every message in a ring indexed by id until each online endpoint has
//! acknowledged it. The ring is the flow-control window: its span (oldest unfinished id to
//! newest) never exceeds `window`, so a receiver never has to buffer more than `window`
//! messages out of order, and `publish` is refused with `WouldBlock` until the oldest message
//! finishes (or, with [`DataSender::limit_bytes`], while too many payload bytes are kept).
//! Each message has one retransmission timer, set from the measured round trip
//! (`rtt.rs`) and doubled per retry up to the configured interval; on expiry a unicast copy
//! goes to each endpoint still missing. When the retry budget (`interval × (max_retries + 1)`,
//! as upstream) is spent the publish completes with `NotAcknowledged` naming them (upstream
//! reports success instead).
//!
//! An `RtxRequest` is answered from the ring but does not count as an acknowledgement: the
//! message stays until the requester acks it (our receivers ack RTX replies; upstream
//! receivers ack the retransmitted copy the timer sends), so a lost reply cannot lose data.
//! A request for a message sent before the requester joined gets an error reply, so a new
//! member cannot fetch history.
//!
//! Fire-and-forget mode sends once, completes at once and keeps nothing, except messages
//! published before any endpoint exists, which wait (bounded by the window) for the first.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use slim_wire::proto::{self, SessionMessageType, SessionType};
use slim_wire::{MAX_FANOUT, Name};

use super::rtt::RttEstimator;
use super::{Effects, seq};
use crate::config::Retries;
use crate::event::{CompletionError, CompletionId};
use crate::fast_hash::FastMap;
use crate::wire::{Envelope, Outbound, PUBLISH_TO, TRUE_VALUE};

/// Addressing of a session's data messages.
#[derive(Clone, Debug)]
pub(crate) struct SenderAddress {
    /// This endpoint's full name.
    pub me: Name,
    /// The peer (point-to-point) or the data channel (group); `None` until bound.
    pub destination: Option<Name>,
    /// 1 for point-to-point, 256 for groups.
    pub fanout: u32,
    /// Session type for the header.
    pub session_type: SessionType,
    /// Session id for the header.
    pub session_id: u32,
}

/// An application payload as published.
#[derive(Clone, Debug)]
pub(crate) struct AppPayload {
    pub payload_type: std::borrow::Cow<'static, str>,
    pub blob: Bytes,
    pub metadata: HashMap<String, String>,
}

/// Why an endpoint stops being a recipient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Removal {
    /// It left or was removed: messages it did not ack are not failures.
    Left,
    /// It became unreachable: messages it did not ack fail with `NotAcknowledged`.
    Unreachable,
}

#[derive(Debug)]
struct Endpoint {
    name: Name,
    /// First sequential id addressed to it: RTX for older ids is refused.
    first_id: u32,
}

#[derive(Debug)]
struct Slot {
    payload: AppPayload,
    /// Target of a `PUBLISH_TO` message.
    target: Option<Name>,
    completion: Option<CompletionId>,
    /// Endpoints that have not acknowledged yet.
    pending: Vec<Name>,
    /// Endpoints that became unreachable before acknowledging.
    failed: Vec<Name>,
    /// Next retransmission.
    deadline: Option<Instant>,
    /// First transmission (None until sent).
    first_sent: Option<Instant>,
    /// When retries run out: `interval × (max_retries + 1)` after the first send.
    give_up_at: Option<Instant>,
    /// Current retransmission timeout (doubles per retry, capped at the interval).
    backoff: Duration,
    /// Sent more than once: its ack is no round-trip sample (Karn).
    retransmitted: bool,
    sent: bool,
    /// The message exactly as first sent (sealed), when retransmissions repeat it instead
    /// of sending fresh copies (see [`DataSender::repeat_sealed`]). Boxed: a slot moves
    /// into the ring and out of it once per message, and this would triple its size.
    sealed: Option<Box<proto::Message>>,
}

/// The outbound data path of one session.
#[derive(Debug)]
pub(crate) struct DataSender {
    address: SenderAddress,
    reliable: Option<Retries>,
    window: u32,
    /// Payload bytes that may be kept at once (see [`Self::limit_bytes`]).
    window_bytes: usize,
    /// Payload bytes kept now: in the ring, in `direct` and in `held`.
    kept_bytes: usize,
    /// Id of the next sequential message.
    next_id: u32,
    /// Id of `ring[0]`.
    base: u32,
    /// Sequential messages from `base`; `None` once finished (popped when at the front).
    ring: VecDeque<Option<Slot>>,
    /// `PUBLISH_TO` messages in flight, by their random id.
    direct: FastMap<u32, Slot>,
    /// Fire-and-forget messages waiting for a first endpoint.
    held: VecDeque<(u32, AppPayload, Option<Name>, Option<CompletionId>)>,
    timers: BinaryHeap<Reverse<(Instant, u32)>>,
    endpoints: Vec<Endpoint>,
    /// A publish was refused: report `writable` when room returns.
    blocked: bool,
    rtt: RttEstimator,
    /// Retransmit a broadcast by repeating its first sealed transmission to everyone.
    repeat_sealed: bool,
    /// Emptied `pending` lists of finished slots, reused by the next sends: one allocation
    /// less per message.
    spare_pending: Vec<Vec<Name>>,
}

/// Emptied `pending` lists kept for reuse (a window's worth is never needed: slots finish
/// about as fast as new ones are sent).
const SPARE_PENDING: usize = 32;

impl DataSender {
    /// A sender with no endpoint yet.
    pub fn new(address: SenderAddress, reliable: Option<Retries>, window: u32) -> Self {
        DataSender {
            address,
            reliable,
            window: window.max(1),
            window_bytes: usize::MAX,
            kept_bytes: 0,
            next_id: 1,
            base: 1,
            ring: VecDeque::new(),
            direct: FastMap::default(),
            held: VecDeque::new(),
            timers: BinaryHeap::new(),
            endpoints: Vec::new(),
            blocked: false,
            rtt: RttEstimator::new(reliable.map_or(Duration::from_secs(1), |r| r.interval)),
            repeat_sealed: false,
            spare_pending: Vec::new(),
        }
    }

    /// Bounds the payload bytes kept for acknowledgement (or for a first endpoint) besides
    /// their number: `publish` is refused while `bytes` or more are kept. A message larger
    /// than the bound is still accepted when nothing else is kept, so any size can be sent.
    /// The window counts messages, which suits small ones; this keeps large ones from
    /// pinning a window's worth of megabytes per session.
    pub fn limit_bytes(&mut self, bytes: usize) {
        self.window_bytes = bytes.max(1);
    }

    /// Retransmits broadcasts by repeating them as first sealed (to every member) instead of
    /// sending each missing member a freshly sealed copy. MLS groups need this: every
    /// encryption spends a generation of the sender's ratchet, and a member refuses a
    /// generation more than 1024 ahead of the last one it decrypted (mls-rs), so copies for
    /// one lagging member would cut every other member off for the rest of the epoch. A
    /// repeated message spends nothing; members that have it re-acknowledge a duplicate.
    pub fn repeat_sealed(&mut self) {
        self.repeat_sealed = true;
    }

    /// Keeps the sealed first transmission of broadcast `id` for retransmissions (only in
    /// [`Self::repeat_sealed`] mode).
    pub fn remember_sealed(&mut self, id: u32, message: &proto::Message) {
        if !self.repeat_sealed || !seq::is_sequential(id) {
            return;
        }
        if let Some(slot) = self.slot_mut(id)
            && slot.target.is_none()
            && slot.sealed.is_none()
        {
            slot.sealed = Some(Box::new(message.clone()));
        }
    }

    /// Binds the destination (the point-to-point peer once discovered).
    pub fn set_destination(&mut self, destination: Name) {
        self.address.destination = Some(destination);
    }

    /// True when a publish would be accepted now.
    pub fn has_room(&self) -> bool {
        if self.kept_bytes >= self.window_bytes {
            return false;
        }
        if self.reliable.is_some() {
            self.ring.len() < self.window as usize && self.direct.len() < self.window as usize
        } else {
            self.held.len() < self.window as usize
        }
    }

    /// Payload bytes kept now (for tests of the byte bound).
    #[cfg(test)]
    pub fn kept_bytes(&self) -> usize {
        self.kept_bytes
    }

    /// Remembers that a publish was refused, so `writable` is reported later.
    pub fn mark_blocked(&mut self) {
        self.blocked = true;
    }

    /// Messages not yet finished (in flight or waiting for an endpoint).
    pub fn outstanding(&self) -> usize {
        self.ring.iter().filter(|s| s.is_some()).count() + self.direct.len() + self.held.len()
    }

    /// True when nothing is waiting for an acknowledgement.
    pub fn is_idle(&self) -> bool {
        self.outstanding() == 0
    }

    /// Publishes to the session (sequential id). The caller checked `has_room`.
    pub fn publish(
        &mut self,
        now: Instant,
        payload: AppPayload,
        completion: Option<CompletionId>,
        fx: &mut Effects,
    ) -> u32 {
        let id = self.next_id;
        self.next_id = seq::next(id);
        if self.reliable.is_none() {
            if self.endpoints.is_empty() {
                self.kept_bytes += payload.blob.len();
                self.held.push_back((id, payload, None, completion));
            } else {
                fx.transmit.push(self.build(id, &payload, None, None));
                if let Some(c) = completion {
                    fx.completions.push((c, Ok(())));
                }
            }
            return id;
        }
        self.kept_bytes += payload.blob.len();
        self.ring.push_back(Some(Slot {
            payload,
            target: None,
            completion,
            pending: Vec::new(),
            failed: Vec::new(),
            deadline: None,
            first_sent: None,
            give_up_at: None,
            backoff: Duration::ZERO,
            retransmitted: false,
            sent: false,
            sealed: None,
        }));
        if !self.endpoints.is_empty() {
            self.send_slot(now, id, fx);
        }
        id
    }

    /// Publishes to one member outside the ordered stream (`PUBLISH_TO`), with `id` drawn by
    /// the caller above `MAX_PUBLISH_ID`.
    pub fn publish_to(
        &mut self,
        now: Instant,
        id: u32,
        target: Name,
        mut payload: AppPayload,
        completion: Option<CompletionId>,
        fx: &mut Effects,
    ) {
        payload
            .metadata
            .insert(PUBLISH_TO.to_owned(), TRUE_VALUE.to_owned());
        fx.transmit
            .push(self.build(id, &payload, Some(&target), None));
        match self.reliable {
            None => {
                if let Some(c) = completion {
                    fx.completions.push((c, Ok(())));
                }
            }
            Some(retries) => {
                let backoff = self.rtt.rto();
                let deadline = now + backoff;
                self.timers.push(Reverse((deadline, id)));
                self.kept_bytes += payload.blob.len();
                self.direct.insert(
                    id,
                    Slot {
                        payload,
                        pending: vec![target.clone()],
                        target: Some(target),
                        completion,
                        failed: Vec::new(),
                        deadline: Some(deadline),
                        first_sent: Some(now),
                        give_up_at: Some(now + retries.budget()),
                        backoff,
                        retransmitted: false,
                        sent: true,
                        sealed: None,
                    },
                );
            }
        }
    }

    /// Builds the wire message for `id`, to the session destination or `to` (unicast copy).
    fn build(
        &self,
        id: u32,
        payload: &AppPayload,
        target: Option<&Name>,
        to: Option<&Name>,
    ) -> Outbound {
        let (destination, fanout) = match (to.or(target), &self.address.destination) {
            (Some(name), _) => (name, 1),
            (None, Some(dest)) => (dest, self.address.fanout),
            // Unreachable by construction (nothing is sent before an endpoint exists, and
            // the destination is bound before the first endpoint); fall back to self.
            (None, None) => (&self.address.me, 1),
        };
        let envelope = Envelope {
            source: &self.address.me,
            destination,
            fanout: fanout.min(MAX_FANOUT),
            session_type: self.address.session_type,
            session_id: self.address.session_id,
        };
        let mut message = envelope.app_routed(
            SessionMessageType::Msg,
            id,
            &payload.payload_type,
            payload.blob.clone(),
            payload.metadata.clone(),
        );
        if self.reliable.is_some() && seq::is_sequential(id) {
            message.set_takes_ack_ranges();
        }
        message
    }

    fn slot_mut(&mut self, id: u32) -> Option<&mut Slot> {
        if !seq::is_sequential(id) {
            return self.direct.get_mut(&id);
        }
        let offset = seq::distance(self.base, id) as usize;
        self.ring.get_mut(offset).and_then(Option::as_mut)
    }

    fn slot(&self, id: u32) -> Option<&Slot> {
        if !seq::is_sequential(id) {
            return self.direct.get(&id);
        }
        let offset = seq::distance(self.base, id) as usize;
        self.ring.get(offset).and_then(Option::as_ref)
    }

    /// First transmission of a ring slot to the current endpoints.
    fn send_slot(&mut self, now: Instant, id: u32, fx: &mut Effects) {
        let Some(retries) = self.reliable else { return };
        let mut pending = self.spare_pending.pop().unwrap_or_default();
        pending.extend(self.endpoints.iter().map(|e| e.name.clone()));
        let backoff = self.rtt.rto();
        let deadline = now + backoff;
        let message = match self.slot(id) {
            Some(slot) => self.build(id, &slot.payload, None, None),
            None => return,
        };
        if let Some(slot) = self.slot_mut(id) {
            slot.pending = pending;
            slot.deadline = Some(deadline);
            slot.first_sent = Some(now);
            slot.give_up_at = Some(now + retries.budget());
            slot.backoff = backoff;
            slot.sent = true;
        }
        self.timers.push(Reverse((deadline, id)));
        fx.transmit.push(message);
    }

    /// Adds a recipient. Messages waiting for a first endpoint go out now.
    pub fn add_endpoint(&mut self, now: Instant, name: Name, fx: &mut Effects) {
        if self.endpoints.iter().any(|e| e.name == name) {
            return;
        }
        let first_unsent = self
            .ring
            .iter()
            .enumerate()
            .find(|(_, s)| s.as_ref().is_some_and(|s| !s.sent))
            .map(|(i, _)| seq::add(self.base, i as u32))
            .or_else(|| self.held.front().map(|h| h.0));
        self.endpoints.push(Endpoint {
            name,
            first_id: first_unsent.unwrap_or(self.next_id),
        });
        if self.endpoints.len() == 1 {
            self.flush(now, fx);
        }
    }

    /// Re-adds a member that came back online, keeping its right to older messages.
    pub fn restore_endpoint(&mut self, now: Instant, name: Name, fx: &mut Effects) {
        self.add_endpoint(now, name, fx);
    }

    fn flush(&mut self, now: Instant, fx: &mut Effects) {
        while let Some((id, payload, target, completion)) = self.held.pop_front() {
            self.kept_bytes = self.kept_bytes.saturating_sub(payload.blob.len());
            fx.transmit
                .push(self.build(id, &payload, target.as_ref(), None));
            if let Some(c) = completion {
                fx.completions.push((c, Ok(())));
            }
        }
        let unsent: Vec<u32> = self
            .ring
            .iter()
            .enumerate()
            .filter(|(_, s)| s.as_ref().is_some_and(|s| !s.sent))
            .map(|(i, _)| seq::add(self.base, i as u32))
            .collect();
        for id in unsent {
            self.send_slot(now, id, fx);
        }
        self.report_room(fx);
    }

    /// Stops sending to `name`; messages only it had not acknowledged finish now.
    pub fn remove_endpoint(&mut self, name: &Name, why: Removal, fx: &mut Effects) {
        self.endpoints.retain(|e| &e.name != name);
        let mut finished = Vec::new();
        let ring_ids = (0..self.ring.len()).map(|i| seq::add(self.base, i as u32));
        let ids: Vec<u32> = ring_ids.chain(self.direct.keys().copied()).collect();
        for id in ids {
            if let Some(slot) = self.slot_mut(id)
                && let Some(pos) = slot.pending.iter().position(|n| n == name)
            {
                let gone = slot.pending.swap_remove(pos);
                if why == Removal::Unreachable {
                    slot.failed.push(gone);
                }
                if slot.pending.is_empty() && slot.sent {
                    finished.push(id);
                }
            }
        }
        for id in finished {
            self.finish(id, fx);
        }
    }

    /// The most messages in flight (a range of acknowledged ids never spans more).
    pub fn window(&self) -> u32 {
        self.window
    }

    /// An acknowledgement (MsgAck, or our receivers' ack of an RTX reply) from `from`.
    #[cfg(test)]
    pub fn on_ack(&mut self, now: Instant, from: &Name, id: u32, fx: &mut Effects) {
        self.ack_one(now, from, id, true, fx);
    }

    /// An acknowledgement of the ids `first` to `last` from `from`: a MsgAck (a range is our
    /// extension: see `session/acks.rs`) or our receivers' ack of an RTX reply. Only the last
    /// id measures the round trip: the others waited for it at the receiver.
    pub fn on_acks(&mut self, now: Instant, from: &Name, first: u32, last: u32, fx: &mut Effects) {
        let mut id = first;
        while id != last {
            self.ack_one(now, from, id, false, fx);
            id = seq::next(id);
        }
        self.ack_one(now, from, last, true, fx);
    }

    fn ack_one(&mut self, now: Instant, from: &Name, id: u32, measure: bool, fx: &mut Effects) {
        let Some(slot) = self.slot_mut(id) else {
            return;
        };
        let Some(pos) = slot.pending.iter().position(|n| n == from) else {
            return;
        };
        slot.pending.swap_remove(pos);
        let sample = match (slot.retransmitted, slot.first_sent) {
            (false, Some(sent)) if measure => Some(now.saturating_duration_since(sent)),
            _ => None,
        };
        let done = slot.pending.is_empty();
        if let Some(rtt) = sample {
            self.rtt.sample(rtt);
        }
        if done {
            self.finish(id, fx);
        }
    }

    /// Completes a slot (success unless some endpoint failed) and frees its room. A ring slot
    /// is emptied where it lies rather than moved out (it is a few hundred bytes).
    fn finish(&mut self, id: u32, fx: &mut Effects) {
        let (completion, failed, mut pending) = if seq::is_sequential(id) {
            let offset = seq::distance(self.base, id) as usize;
            let Some(entry) = self.ring.get_mut(offset) else {
                return;
            };
            let Some(slot) = entry.as_mut() else { return };
            self.kept_bytes = self.kept_bytes.saturating_sub(slot.payload.blob.len());
            let parts = (
                slot.completion,
                std::mem::take(&mut slot.failed),
                std::mem::take(&mut slot.pending),
            );
            *entry = None;
            parts
        } else {
            let Some(slot) = self.direct.remove(&id) else {
                return;
            };
            self.kept_bytes = self.kept_bytes.saturating_sub(slot.payload.blob.len());
            (slot.completion, slot.failed, slot.pending)
        };
        if self.spare_pending.len() < SPARE_PENDING {
            pending.clear();
            self.spare_pending.push(pending);
        }
        if let Some(c) = completion {
            let result = if failed.is_empty() {
                Ok(())
            } else {
                Err(CompletionError::NotAcknowledged(failed))
            };
            fx.completions.push((c, result));
        }
        while matches!(self.ring.front(), Some(None)) {
            self.ring.pop_front();
            self.base = seq::next(self.base);
        }
        self.drop_stale_timers();
        self.report_room(fx);
    }

    /// Pops the timers of messages no longer waiting, so that the deadline the layer sees is
    /// a real one. Left in the heap, an acknowledged message's timer would still wake the
    /// driver at its deadline: at a steady message rate, a wake-up per message, each one for
    /// nothing. Acks mostly come in sending order, so this pops about one entry per message.
    fn drop_stale_timers(&mut self) {
        while let Some(Reverse((deadline, id))) = self.timers.peek().copied() {
            if self
                .slot(id)
                .is_some_and(|slot| slot.deadline == Some(deadline))
            {
                return;
            }
            self.timers.pop();
        }
    }

    fn report_room(&mut self, fx: &mut Effects) {
        if self.blocked && self.has_room() {
            self.blocked = false;
            fx.writable = true;
        }
    }

    /// Answers an `RtxRequest` from `from` for `id`: the message again as an `RtxReply`, or an
    /// error reply when it is gone or predates the requester's membership.
    pub fn on_rtx_request(&mut self, from: &Name, id: u32, fx: &mut Effects) {
        let eligible = self
            .endpoints
            .iter()
            .find(|e| &e.name == from)
            .is_none_or(|e| !seq::is_sequential(id) || seq::at_or_after(id, e.first_id));
        // Its ack will no longer measure one round trip (Karn).
        if eligible && let Some(slot) = self.slot_mut(id) {
            slot.retransmitted = true;
        }
        let found = self.slot(id).filter(|s| s.sent && eligible);
        let mut reply = match found {
            Some(slot) => self.build(id, &slot.payload, slot.target.as_ref(), Some(from)),
            None => {
                let envelope = Envelope {
                    source: &self.address.me,
                    destination: from,
                    fanout: 1,
                    session_type: self.address.session_type,
                    session_id: self.address.session_id,
                };
                let mut reply = envelope.empty(SessionMessageType::RtxReply, id, false);
                reply.set_error();
                reply
            }
        };
        reply.set_kind(SessionMessageType::RtxReply);
        fx.transmit.push(reply);
    }

    /// Earliest retransmission deadline.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((t, _))| *t)
    }

    /// Retransmits what timed out; completes what ran out of retries.
    pub fn on_timeout(&mut self, now: Instant, fx: &mut Effects) {
        let Some(retries) = self.reliable else {
            self.timers.clear();
            return;
        };
        while let Some(Reverse((deadline, id))) = self.timers.peek().copied() {
            if deadline > now {
                break;
            }
            self.timers.pop();
            let Some(slot) = self.slot(id) else { continue };
            if slot.deadline != Some(deadline) {
                continue; // stale entry
            }
            if slot.give_up_at.is_none_or(|limit| now >= limit) {
                let missing = slot.pending.clone();
                if let Some(slot) = self.slot_mut(id) {
                    slot.failed.append(&mut slot.pending);
                }
                fx.unresponsive.extend(missing);
                self.finish(id, fx);
                continue;
            }
            match &slot.sealed {
                Some(sealed) => fx.repeat.push(proto::Message::clone(sealed)),
                None => {
                    let copies: Vec<Outbound> = slot
                        .pending
                        .iter()
                        .map(|to| self.build(id, &slot.payload, slot.target.as_ref(), Some(to)))
                        .collect();
                    fx.transmit.extend(copies);
                }
            }
            if !slot.retransmitted {
                self.rtt.on_timeout(slot.backoff);
            }
            let Some(slot) = self.slot(id) else { continue };
            let backoff = (slot.backoff * 2).min(retries.interval);
            let next = match slot.give_up_at {
                Some(limit) => (now + backoff).min(limit),
                None => now + backoff,
            };
            if let Some(slot) = self.slot_mut(id) {
                slot.backoff = backoff;
                slot.retransmitted = true;
                slot.deadline = Some(next);
            }
            self.timers.push(Reverse((next, id)));
        }
    }

    /// Fails every unfinished message (session closing for good).
    pub fn abort(&mut self, fx: &mut Effects) {
        let ids: Vec<u32> = (0..self.ring.len())
            .map(|i| seq::add(self.base, i as u32))
            .chain(self.direct.keys().copied())
            .collect();
        for id in ids {
            if let Some(slot) = self.slot_mut(id) {
                let pending: Vec<Name> = slot.pending.drain(..).collect();
                slot.failed.extend(pending);
                if slot.failed.is_empty()
                    && let Some(c) = slot.completion.take()
                {
                    fx.completions
                        .push((c, Err(CompletionError::SessionClosed)));
                }
            }
            self.finish(id, fx);
        }
        for (_, payload, _, completion) in self.held.drain(..) {
            self.kept_bytes = self.kept_bytes.saturating_sub(payload.blob.len());
            if let Some(c) = completion {
                fx.completions
                    .push((c, Err(CompletionError::SessionClosed)));
            }
        }
        self.timers.clear();
    }
}
