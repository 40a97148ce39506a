//! Subscribe, unsubscribe and their acknowledgements.
//!
//! A subscription request goes through these steps:
//! 1. TTL, as for publishes (an expired request with an id gets a negative ack).
//! 2. Process-local fields: from a local connection, `recv_from = R` makes the route go
//!    through R instead of the sender ("set route") and `forward_to = F` also sends the request
//!    on F ("subscribe upstream"), deferring the ack until F answers. From any other
//!    connection these fields are ignored and counted: they are indices into *this* process's
//!    connection table, and honouring them from the network would let a remote sender attach
//!    routes to, or push subscriptions onto, connections it knows nothing about.
//! 3. Loop prevention: a non-zero id already handled for the same operation and received over
//!    a different, still connected node link is a copy that went around a loop: ack, drop.
//! 4. The table update, reference-counted by id. The first non-peer route of a name is
//!    propagated to every peer, the last one withdrawn (see `lifecycle.rs`); a peer's request
//!    with TTL ≥ 2 left is relayed to the other peers.
//! 5. The acknowledgement, when the id is non-zero: at once, or when F answers.
//!
//! Peer propagation never delays or fails the requester's ack. Upstream waits up to 5 s for
//! peers and then ignores their failures; acking at once gives the same result sooner, and
//! peer answers are only counted (`peer_acks_ok` / `peer_acks_failed`).

use std::time::Instant;

use slim_wire::proto::message::MessageType;
use slim_wire::{Frame, NameKey};

use super::Router;
use crate::acks::PendingAck;
use crate::conn::{ConnId, ConnKind};
use crate::intents::{Intent, Request};
use crate::output::{DropReason, Sink};
use crate::relays::Relay;
use crate::seen::Op;
use crate::table::{Added, Removed};

/// A subscription request after step 2.
#[derive(Clone, Copy, Debug)]
struct Req {
    from: ConnId,
    kind: ConnKind,
    key: NameKey,
    id: u64,
    /// TTL the request leaves with.
    ttl: u32,
    /// The connection the route goes through, and its kind.
    holder: ConnId,
    holder_kind: ConnKind,
    /// `recv_from` was honoured.
    set_route: bool,
    /// `forward_to` target.
    downstream: Option<ConnId>,
}

impl Router {
    pub(super) fn handle_subscription(
        &mut self,
        from: ConnId,
        kind: ConnKind,
        frame: Frame,
        op: Op,
        now: Instant,
        sink: &mut impl Sink,
    ) {
        let id = frame.subscription_id();
        let Some(ttl) = Self::hop_ttl(kind, &frame) else {
            self.refuse(from, frame, DropReason::TtlExpired, sink);
            return;
        };
        let Some(key) = frame.destination() else {
            self.refuse(from, frame, DropReason::NotSubscribed, sink);
            return;
        };
        let (recv_from, forward_to) = if kind == ConnKind::Local {
            (frame.recv_from(), frame.forward_to())
        } else {
            if frame.recv_from().is_some() || frame.forward_to().is_some() {
                self.stats.ignored_local_fields += 1;
            }
            (None, None)
        };
        if id != 0 && self.is_loop(id, op, from, kind, now) {
            self.ack(from, id, None, sink);
            self.drop_frame(from, frame, DropReason::DuplicateSubscription, sink);
            return;
        }
        let (holder, holder_kind) = match recv_from.map(|r| self.target(from, r)) {
            None => (from, kind),
            Some(Ok(target)) => target,
            Some(Err(reason)) => {
                self.refuse(from, frame, reason, sink);
                return;
            }
        };
        let downstream = match forward_to.map(|f| self.target(from, f)) {
            None => None,
            Some(Ok((target, _))) => Some(target),
            Some(Err(reason)) => {
                self.refuse(from, frame, reason, sink);
                return;
            }
        };
        let req = Req {
            from,
            kind,
            key,
            id,
            ttl,
            holder,
            holder_kind,
            set_route: recv_from.is_some(),
            downstream,
        };
        match op {
            Op::Subscribe => self.subscribe(req, frame, now, sink),
            Op::Unsubscribe => self.unsubscribe(req, frame, now, sink),
        }
    }

    /// Step 3 of the module docs.
    fn is_loop(&self, id: u64, op: Op, from: ConnId, kind: ConnKind, now: Instant) -> bool {
        if !kind.is_node_link() {
            // Applications do not relay: a repeated id from one is a retry or a reconnection.
            return false;
        }
        match self.seen.get(id, now) {
            Some((seen_op, seen_from)) if seen_op == op => match seen_from {
                None => true,
                Some(first) => first != from && self.conns.contains(first),
            },
            _ => false,
        }
    }

    /// Resolves a `recv_from` / `forward_to` index: an existing, non-local connection other
    /// than the sender.
    fn target(&self, from: ConnId, raw: u64) -> Result<(ConnId, ConnKind), DropReason> {
        let target = ConnId(raw);
        if target == from {
            return Err(DropReason::InvalidTarget);
        }
        match self.conns.kind(target) {
            None => Err(DropReason::UnknownConnection),
            Some(ConnKind::Local) => Err(DropReason::InvalidTarget),
            Some(kind) => Ok((target, kind)),
        }
    }

    /// Drops a subscription request, answering it negatively when it asked for an answer.
    fn refuse(&mut self, from: ConnId, frame: Frame, reason: DropReason, sink: &mut impl Sink) {
        let id = frame.subscription_id();
        if id != 0 {
            self.ack(from, id, Some(reason.message()), sink);
        }
        self.drop_frame(from, frame, reason, sink);
    }

    fn subscribe(&mut self, req: Req, frame: Frame, now: Instant, sink: &mut impl Sink) {
        let at_limit =
            self.table.refs_of(req.holder) >= self.config.max_subscriptions_per_connection;
        if at_limit && !self.table.holds(req.holder, req.key, req.id) {
            self.refuse(req.from, frame, DropReason::SubscriptionLimit, sink);
            return;
        }
        if let Some(target) = req.downstream
            && req.id != 0
            && self.acks.len() >= self.config.max_pending_acks
            && !self.acks.contains(target, req.id)
        {
            self.refuse(req.from, frame, DropReason::PendingAckLimit, sink);
            return;
        }
        if req.id != 0 {
            self.seen.record(req.id, Op::Subscribe, Some(req.from), now);
        }
        let added = self
            .table
            .add(req.holder, req.holder_kind, req.key, req.id, || {
                frame.destination_name()
            });
        if added
            == (Added::Route {
                first_non_peer: true,
            })
        {
            self.propagate(req.key, now, sink);
        }
        if req.kind == ConnKind::Peer && added != Added::AlreadyHeld && req.ttl >= 2 {
            self.relay_subscribe(req.from, req.key, req.id, &frame, req.ttl, sink);
        }
        if req.set_route {
            self.intents.remember(Intent {
                owner: req.from,
                target: req.holder,
                key: req.key,
                id: req.id,
                request: Request::Route,
            });
        }
        if let Some(target) = req.downstream {
            self.intents.remember(Intent {
                owner: req.from,
                target,
                key: req.key,
                id: req.id,
                request: Request::Forwarded {
                    frame: Box::new(frame.clone()),
                    ttl: req.ttl,
                },
            });
            self.send_downstream(
                target,
                req.key,
                Op::Subscribe,
                frame,
                req.ttl,
                Some(req.from),
                now,
                sink,
            );
            return;
        }
        if req.id != 0 {
            self.ack(req.from, req.id, None, sink);
        }
    }

    fn unsubscribe(&mut self, req: Req, frame: Frame, now: Instant, sink: &mut impl Sink) {
        if req.id != 0 {
            self.seen
                .record(req.id, Op::Unsubscribe, Some(req.from), now);
        }
        let from_peer = req.kind == ConnKind::Peer && !req.set_route;
        let holder = if from_peer && !self.table.holds(req.from, req.key, req.id) {
            // A peer withdraws a subscription by id, whichever peer brought it here first.
            self.table.peer_holding(req.key, req.id).unwrap_or(req.from)
        } else {
            req.holder
        };
        let removed = self.table.remove(holder, req.key, req.id, true);
        let removed_id = match removed {
            Removed::NotHeld => None,
            Removed::Reference { id } => Some(id),
            Removed::Route { id, withdrawn } => {
                if withdrawn != 0 {
                    self.withdraw(req.key, withdrawn, now, sink);
                }
                Some(id)
            }
        };
        if from_peer
            && let Some(id) = removed_id
            && let Some(relay) = self.relays.remove(holder, req.key, id)
        {
            self.relay_unsubscribe(&[req.from, holder], &frame, relay.ttl, sink);
        }
        if req.set_route {
            self.intents.forget(holder, req.key, req.id, true);
        }
        if let Some(target) = req.downstream {
            self.intents.forget(target, req.key, req.id, false);
            self.send_downstream(
                target,
                req.key,
                Op::Unsubscribe,
                frame,
                req.ttl,
                Some(req.from),
                now,
                sink,
            );
            return;
        }
        if removed_id.is_none() {
            self.refuse(req.from, frame, DropReason::NotSubscribed, sink);
        } else if req.id != 0 {
            self.ack(req.from, req.id, None, sink);
        }
    }

    /// Sends a subscription request on `target` and, when it has an id, waits for the answer
    /// (resending on timeout) before answering `requester`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn send_downstream(
        &mut self,
        target: ConnId,
        key: NameKey,
        op: Op,
        frame: Frame,
        ttl: u32,
        requester: Option<ConnId>,
        now: Instant,
        sink: &mut impl Sink,
    ) {
        let id = frame.subscription_id();
        if id != 0 {
            let pending = PendingAck {
                requesters: requester.into_iter().collect(),
                key,
                op,
                frame: frame.clone(),
                ttl,
                deadline: now + self.config.ack_timeout(),
                retries_left: self.config.ack_retries,
            };
            self.acks.insert(target, id, pending);
        }
        self.forward(target, frame, ttl, sink);
    }

    /// Passes a peer's subscription on to the other peers and keeps it for later syncs.
    fn relay_subscribe(
        &mut self,
        from: ConnId,
        key: NameKey,
        id: u64,
        frame: &Frame,
        ttl: u32,
        sink: &mut impl Sink,
    ) {
        self.relays.insert(
            from,
            key,
            id,
            Relay {
                frame: frame.clone(),
                ttl,
            },
        );
        let peers = self.conns.peers().to_vec();
        for peer in peers.into_iter().filter(|&p| p != from) {
            self.stats.relayed += 1;
            self.forward(peer, frame.clone(), ttl, sink);
        }
    }

    /// Passes a peer's unsubscribe on to the peers not in `except`.
    fn relay_unsubscribe(
        &mut self,
        except: &[ConnId],
        frame: &Frame,
        ttl: u32,
        sink: &mut impl Sink,
    ) {
        let peers = self.conns.peers().to_vec();
        for peer in peers.into_iter().filter(|p| !except.contains(p)) {
            self.stats.relayed += 1;
            self.forward(peer, frame.clone(), ttl, sink);
        }
    }

    pub(super) fn handle_ack(
        &mut self,
        from: ConnId,
        kind: ConnKind,
        frame: Frame,
        sink: &mut impl Sink,
    ) {
        let id = frame.subscription_id();
        let success = match frame.decode().map(|m| m.message_type) {
            Ok(Some(MessageType::SubscriptionAck(ack))) => ack.success,
            _ => false,
        };
        if let Some(pending) = self.acks.resolve(from, id) {
            if !success && pending.op == Op::Subscribe {
                // Refused downstream: replaying it after a reconnection would be refused too.
                self.intents.forget(from, pending.key, id, false);
            }
            for requester in pending.requesters {
                if self.conns.contains(requester) {
                    self.forward(requester, frame.clone(), 0, sink);
                }
            }
        } else if kind == ConnKind::Peer {
            if success {
                self.stats.peer_acks_ok += 1;
            } else {
                self.stats.peer_acks_failed += 1;
            }
        } else {
            self.drop_frame(from, frame, DropReason::UnexpectedAck, sink);
        }
    }
}
