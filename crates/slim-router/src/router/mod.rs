//! [`Router`]: the routing state of one node and the entry points that change it.
//!
//! Every entry point takes the current time and a [`Sink`], updates the tables and pushes what
//! must happen as [`Output`]s; none blocks or performs I/O.
//!
//! Layout: this file holds the state, dispatch, introspection and the small helpers every rule
//! uses; `publish.rs` routes publishes; `subscription.rs` handles subscribe, unsubscribe and
//! their acknowledgements; `lifecycle.rs` handles connections coming and going, propagation
//! to peers and timers. Tests are in `tests/`.

mod lifecycle;
mod publish;
mod subscription;
#[cfg(test)]
mod tests;

use std::time::Instant;

use slim_wire::{Frame, FrameKind, NameKey, builders};

use crate::acks::PendingAcks;
use crate::config::RouterConfig;
use crate::conn::{ConnId, ConnKind, ConnTable};
use crate::hash::KeyedState;
use crate::intents::Intents;
use crate::output::{DropReason, Output, Sink};
use crate::relays::Relays;
use crate::seen::{Op, SeenIds};
use crate::stats::RouterStats;
use crate::table::{RouteInfo, SubscriptionTable};

/// A connection as listed for operators.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The connection.
    pub conn: ConnId,
    /// Its kind.
    pub kind: ConnKind,
    /// Routes through it.
    pub routes: usize,
    /// Subscription references it holds.
    pub subscriptions: usize,
}

/// Ids for the subscriptions this router originates: a counter passed through the SplitMix64
/// finalizer, so ids look random, never repeat within a run, and differ between runs as the
/// seed does.
#[derive(Debug)]
struct IdSource {
    next: u64,
}

impl IdSource {
    fn next(&mut self) -> u64 {
        loop {
            self.next = self.next.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.next;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            if z != 0 {
                return z;
            }
        }
    }
}

/// The routing core of a node. See the crate docs for the rules it implements.
#[derive(Debug)]
pub struct Router {
    config: RouterConfig,
    subscription_ttl: u32,
    conns: ConnTable,
    table: SubscriptionTable,
    seen: SeenIds,
    acks: PendingAcks,
    intents: Intents,
    relays: Relays,
    ids: IdSource,
    stats: RouterStats,
}

impl Router {
    /// A router with no connections. `seed` keys the tables' hashing and the ids of the
    /// subscriptions the router originates: the node passes a random value (so restarts do not
    /// reuse ids peers still remember, and clients cannot predict hash buckets); tests pass a
    /// constant and get identical runs.
    pub fn new(config: RouterConfig, seed: u64) -> Self {
        let hasher = KeyedState::new(seed);
        Router {
            subscription_ttl: config.effective_subscription_ttl(),
            conns: ConnTable::new(hasher),
            table: SubscriptionTable::new(hasher),
            seen: SeenIds::new(config.seen_ids_capacity, config.seen_ids_ttl(), hasher),
            acks: PendingAcks::new(hasher),
            intents: Intents::new(hasher),
            relays: Relays::new(hasher),
            ids: IdSource {
                next: seed ^ 0x5851_f42d_4c95_7f2d,
            },
            stats: RouterStats::default(),
            config,
        }
    }

    /// The configuration the router runs with.
    pub fn config(&self) -> &RouterConfig {
        &self.config
    }

    /// Processes one frame received on `from`. The frame is already validated (and its MAC
    /// verified) by the transport.
    pub fn handle_frame(&mut self, from: ConnId, frame: Frame, now: Instant, sink: &mut impl Sink) {
        self.stats.frames_received += 1;
        let Some(kind) = self.conns.kind(from) else {
            self.drop_frame(from, frame, DropReason::UnknownSender, sink);
            return;
        };
        match frame.kind() {
            FrameKind::Publish => self.handle_publish(from, kind, frame, sink),
            FrameKind::Subscribe => {
                self.handle_subscription(from, kind, frame, Op::Subscribe, now, sink)
            }
            FrameKind::Unsubscribe => {
                self.handle_subscription(from, kind, frame, Op::Unsubscribe, now, sink)
            }
            FrameKind::SubscriptionAck => self.handle_ack(from, kind, frame, sink),
            FrameKind::Link => self.drop_frame(from, frame, DropReason::LinkFrame, sink),
        }
    }

    /// Counters and table sizes.
    pub fn stats(&self) -> RouterStats {
        RouterStats {
            connections: self.conns.len(),
            routes: self.table.route_count(),
            subscriptions: self.table.ref_count(),
            seen_ids: self.seen.len(),
            pending_acks: self.acks.len(),
            ..self.stats.clone()
        }
    }

    /// The kind of `conn`, if it is connected.
    pub fn connection_kind(&self, conn: ConnId) -> Option<ConnKind> {
        self.conns.kind(conn)
    }

    /// Every connection with its route and subscription counts, sorted by id.
    pub fn connections(&self) -> Vec<ConnectionInfo> {
        self.conns
            .sorted()
            .into_iter()
            .map(|(conn, kind)| ConnectionInfo {
                conn,
                kind,
                routes: self.table.routes_of(conn),
                subscriptions: self.table.refs_of(conn),
            })
            .collect()
    }

    /// Every route, sorted by name then connection.
    pub fn routes(&self) -> Vec<RouteInfo> {
        self.table.list(None)
    }

    /// The routes through `conn`, sorted by name.
    pub fn routes_of(&self, conn: ConnId) -> Vec<RouteInfo> {
        self.table.list(Some(conn))
    }

    /// Local requests (`forward_to` subscriptions and `recv_from` routes) remembered for
    /// replay after a reconnection.
    pub fn remembered_requests(&self) -> usize {
        self.intents.len()
    }

    /// Peer subscriptions relayed to other peers and kept for syncs and withdrawal.
    pub fn relayed_subscriptions(&self) -> usize {
        self.relays.len()
    }

    // ----- helpers shared by the rules -----

    /// The TTL a frame from a `kind` connection leaves with, or `None` when it expired here.
    /// Only hops between processes count: frames from local connections keep theirs.
    fn hop_ttl(kind: ConnKind, frame: &Frame) -> Option<u32> {
        if kind == ConnKind::Local {
            return Some(frame.ttl());
        }
        match frame.ttl().saturating_sub(1) {
            0 => None,
            ttl => Some(ttl),
        }
    }

    fn drop_frame(&mut self, from: ConnId, frame: Frame, reason: DropReason, sink: &mut impl Sink) {
        self.stats.count_drop(reason);
        sink.push(Output::Dropped {
            from,
            frame,
            reason,
        });
    }

    fn forward(&mut self, to: ConnId, frame: Frame, ttl: u32, sink: &mut impl Sink) {
        self.stats.frames_forwarded += 1;
        sink.push(Output::Forward { to, frame, ttl });
    }

    fn send(&mut self, to: ConnId, frame: Frame, ttl: u32, sink: &mut impl Sink) {
        self.stats.frames_originated += 1;
        sink.push(Output::Send { to, frame, ttl });
    }

    /// Sends `SubscriptionAck{id, success: error.is_none(), error}` on `to`.
    fn ack(&mut self, to: ConnId, id: u64, error: Option<&str>, sink: &mut impl Sink) {
        let message = builders::subscription_ack(id, error.map(str::to_owned));
        if let Ok(frame) = Frame::from_message(&message) {
            self.send(to, frame, 0, sink);
        }
    }

    /// A subscribe or unsubscribe for `key` made by this router, with the name's strings when
    /// the table knows them. The subscriber is the name itself: nodes route on the destination
    /// only, and a node has no name of its own on the wire.
    fn subscription_frame(&self, key: NameKey, id: u64, op: Op) -> Option<Frame> {
        let name = self.table.display_name(key);
        let message = match op {
            Op::Subscribe => builders::subscribe(&name, &name, id),
            Op::Unsubscribe => builders::unsubscribe(&name, &name, id),
        };
        Frame::from_message(&message).ok()
    }

    /// The unsubscribe matching a subscribe frame (same names and id).
    fn unsubscribe_for(subscribe: &Frame) -> Option<Frame> {
        let source = subscribe.source_name()?;
        let destination = subscribe.destination_name()?;
        let message = builders::unsubscribe(&source, &destination, subscribe.subscription_id());
        Frame::from_message(&message).ok()
    }
}
