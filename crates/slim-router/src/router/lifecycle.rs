//! Connections coming and going, propagation of names to peers, and timers.
//!
//! Propagation: a name becomes reachable here when it gets its first route through a non-peer
//! connection; the router then gives it a fresh subscription id of its own and sends a
//! Subscribe under that id to every peer, with the configured subscription TTL. When the
//! name's last non-peer route goes, the same id is withdrawn with an Unsubscribe. Using an id
//! per name (rather than the id of whichever client subscribed first) keeps subscribe and
//! unsubscribe paired for peers that count references by id, and gives names subscribed
//! without an id (0) loop protection too.
//!
//! A peer that connects gets a full sync: every name reachable here through non-peer
//! connections, plus the peer subscriptions this router relays. A connection that reconnects
//! under the same id also gets the `forward_to` subscriptions local connections made on it, and
//! its `recv_from` routes come back.

use std::time::Instant;

use slim_wire::NameKey;

use super::Router;
use crate::conn::{ConnId, ConnKind};
use crate::intents::Request;
use crate::output::Sink;
use crate::relays::Relay;
use crate::seen::Op;
use crate::table::{Added, Removed};

/// Error text of the acks a requester gets when its downstream goes away or never answers.
const DOWNSTREAM_CLOSED: &str = "the connection the subscription was forwarded on closed";
const DOWNSTREAM_SILENT: &str = "the connection the subscription was forwarded on did not answer";

impl Router {
    /// Registers a connection. A peer gets the full sync; remembered requests targeting `conn`
    /// are replayed. Adding an id that is already connected first removes the old connection.
    pub fn add_connection(
        &mut self,
        conn: ConnId,
        kind: ConnKind,
        now: Instant,
        sink: &mut impl Sink,
    ) {
        if self.conns.contains(conn) {
            self.remove_connection(conn, now, sink);
        }
        self.conns.insert(conn, kind);
        if kind == ConnKind::Peer {
            self.sync_peer(conn, sink);
        }
        self.replay_requests(conn, kind, now, sink);
    }

    /// Forgets a connection: its routes (withdrawing names that became unreachable, and the
    /// subscriptions relayed on its behalf if it was a peer), the acks waiting on it (their
    /// requesters get an error), and the requests it made as a local connection (undone).
    /// Requests other connections made *on* it are kept for when it comes back.
    pub fn remove_connection(&mut self, conn: ConnId, now: Instant, sink: &mut impl Sink) {
        let Some(kind) = self.conns.remove(conn) else {
            return;
        };
        for (key, ids, withdrawn, _) in self.table.remove_conn(conn) {
            if withdrawn != 0 {
                self.withdraw(key, withdrawn, now, sink);
            }
            if kind == ConnKind::Peer {
                for id in ids {
                    if let Some(relay) = self.relays.remove(conn, key, id) {
                        self.withdraw_relay(id, relay, now, sink);
                    }
                }
            }
        }
        for (id, pending) in self.acks.remove_target(conn) {
            for requester in pending.requesters {
                if self.conns.contains(requester) {
                    self.ack(requester, id, Some(DOWNSTREAM_CLOSED), sink);
                }
            }
        }
        self.acks.forget_requester(conn);
        for intent in self.intents.remove_owner(conn) {
            match intent.request {
                Request::Route => {
                    let removed = self
                        .table
                        .remove(intent.target, intent.key, intent.id, false);
                    if let Removed::Route { withdrawn, .. } = removed
                        && withdrawn != 0
                    {
                        self.withdraw(intent.key, withdrawn, now, sink);
                    }
                }
                Request::Forwarded { frame, ttl } => {
                    if self.conns.contains(intent.target)
                        && let Some(unsubscribe) = Self::unsubscribe_for(&frame)
                    {
                        self.send_downstream(
                            intent.target,
                            intent.key,
                            Op::Unsubscribe,
                            unsubscribe,
                            ttl,
                            None,
                            now,
                            sink,
                        );
                    }
                }
            }
        }
    }

    /// Resends unanswered downstream subscriptions and gives up on those out of retries.
    pub fn handle_timeout(&mut self, now: Instant, sink: &mut impl Sink) {
        for (target, id) in self.acks.due(now) {
            let retry = match self.acks.get_mut(target, id) {
                None => continue,
                Some(pending) if pending.retries_left > 0 => {
                    pending.retries_left -= 1;
                    Some((pending.frame.clone(), pending.ttl))
                }
                Some(_) => None,
            };
            match retry {
                Some((frame, ttl)) => {
                    self.acks
                        .reschedule(target, id, now + self.config.ack_timeout());
                    self.stats.ack_retries += 1;
                    self.forward(target, frame, ttl, sink);
                }
                None => {
                    self.stats.ack_timeouts += 1;
                    let requesters = self
                        .acks
                        .resolve(target, id)
                        .map(|p| p.requesters)
                        .unwrap_or_default();
                    for requester in requesters {
                        if self.conns.contains(requester) {
                            self.ack(requester, id, Some(DOWNSTREAM_SILENT), sink);
                        }
                    }
                }
            }
        }
        self.seen.purge(now);
    }

    /// When [`Router::handle_timeout`] next has work: the earliest acknowledgement deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.acks.next_deadline()
    }

    /// `key` just became reachable through a non-peer connection: tell every peer.
    pub(super) fn propagate(&mut self, key: NameKey, now: Instant, sink: &mut impl Sink) {
        let id = self.ids.next();
        self.table.set_propagation(key, id);
        self.seen.record(id, Op::Subscribe, None, now);
        if self.conns.peers().is_empty() {
            return;
        }
        let Some(frame) = self.subscription_frame(key, id, Op::Subscribe) else {
            return;
        };
        let peers = self.conns.peers().to_vec();
        for peer in peers {
            self.stats.propagated += 1;
            self.send(peer, frame.clone(), self.subscription_ttl, sink);
        }
    }

    /// `key`, propagated under `id`, is no longer reachable through a non-peer connection.
    pub(super) fn withdraw(&mut self, key: NameKey, id: u64, now: Instant, sink: &mut impl Sink) {
        self.seen.record(id, Op::Unsubscribe, None, now);
        if self.conns.peers().is_empty() {
            return;
        }
        let Some(frame) = self.subscription_frame(key, id, Op::Unsubscribe) else {
            return;
        };
        let peers = self.conns.peers().to_vec();
        for peer in peers {
            self.stats.propagated += 1;
            self.send(peer, frame.clone(), self.subscription_ttl, sink);
        }
    }

    /// The peer a relayed subscription came from is gone: unsubscribe it at the peers it was
    /// relayed to (the origin is already out of the peer list).
    fn withdraw_relay(&mut self, id: u64, relay: Relay, now: Instant, sink: &mut impl Sink) {
        self.seen.record(id, Op::Unsubscribe, None, now);
        let Some(frame) = Self::unsubscribe_for(&relay.frame) else {
            return;
        };
        let peers = self.conns.peers().to_vec();
        for peer in peers {
            self.stats.relayed += 1;
            self.send(peer, frame.clone(), relay.ttl, sink);
        }
    }

    /// Everything a newly connected peer should know.
    fn sync_peer(&mut self, peer: ConnId, sink: &mut impl Sink) {
        for (key, id) in self.table.propagated() {
            if let Some(frame) = self.subscription_frame(key, id, Op::Subscribe) {
                self.stats.propagated += 1;
                self.send(peer, frame, self.subscription_ttl, sink);
            }
        }
        for relay in self.relays.not_from(peer) {
            self.stats.relayed += 1;
            self.forward(peer, relay.frame, relay.ttl, sink);
        }
    }

    /// Re-applies what local connections asked for on `conn` before it (re)connected.
    fn replay_requests(
        &mut self,
        conn: ConnId,
        kind: ConnKind,
        now: Instant,
        sink: &mut impl Sink,
    ) {
        for intent in self.intents.for_target(conn) {
            match intent.request {
                Request::Route => {
                    let added = self.table.add(conn, kind, intent.key, intent.id, || None);
                    if added
                        == (Added::Route {
                            first_non_peer: true,
                        })
                    {
                        self.propagate(intent.key, now, sink);
                    }
                }
                Request::Forwarded { frame, ttl } => {
                    self.send_downstream(
                        conn,
                        intent.key,
                        Op::Subscribe,
                        *frame,
                        ttl,
                        None,
                        now,
                        sink,
                    );
                }
            }
        }
    }
}
