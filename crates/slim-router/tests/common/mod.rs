//! A deterministic in-memory network of routers for simulation tests.
//!
//! Nodes are [`Router`]s; links join two nodes as peers; clients are edge connections whose
//! received frames are recorded. Every transmission is re-encoded the way the transport would
//! send it (`Frame::to_forwarded_bytes` with the output's TTL) and parsed again on arrival, so
//! TTL handling and field stripping are exercised end to end. Each direction of each link is
//! a FIFO queue (as a stream transport is); with a seeded RNG the network picks which queue
//! delivers next, reordering traffic *across* links.

// Test code: a failed unwrap is a failed test (see clippy.toml).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use rand::{Rng, SeedableRng, rngs::StdRng};
use slim_router::{ConnId, ConnKind, Output, Router, RouterConfig};
use slim_wire::proto::message::MessageType;
use slim_wire::proto::{self, content::ContentType};
use slim_wire::{Frame, FrameKind, Name, builders};

/// Who is at the other end of a node's connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Far {
    /// Another node; `kind` is the kind this end gives the link.
    Node {
        node: usize,
        conn: ConnId,
        kind: ConnKind,
    },
    Client(usize),
}

/// An application attached to one node.
#[derive(Debug)]
pub struct Client {
    pub node: usize,
    pub conn: ConnId,
    /// Payloads of the publishes received, in order.
    pub received: Vec<String>,
    /// (subscription id, success) of the acks received.
    pub acks: Vec<(u64, bool)>,
}

pub struct Net {
    pub nodes: Vec<Router>,
    ends: Vec<BTreeMap<ConnId, Far>>,
    pub clients: Vec<Client>,
    /// Frames in flight to (node, connection at that node).
    queues: BTreeMap<(usize, ConnId), VecDeque<Frame>>,
    next_conn: u64,
    rng: Option<StdRng>,
    now: Instant,
    pub delivered: u64,
    next_sub_id: u64,
}

impl Net {
    /// `nodes` routers with `config`; `reorder_seed` enables random interleaving.
    pub fn new(nodes: usize, config: RouterConfig, reorder_seed: Option<u64>) -> Self {
        Net {
            nodes: (0..nodes)
                .map(|i| Router::new(config.clone(), 1000 + i as u64))
                .collect(),
            ends: vec![BTreeMap::new(); nodes],
            clients: Vec::new(),
            queues: BTreeMap::new(),
            next_conn: 1,
            rng: reorder_seed.map(StdRng::seed_from_u64),
            now: Instant::now(),
            delivered: 0,
            next_sub_id: 1,
        }
    }

    fn fresh_conn(&mut self) -> ConnId {
        self.next_conn += 1;
        ConnId(self.next_conn)
    }

    /// Links two nodes as peers; returns the connection ids at `a` and `b`.
    pub fn link(&mut self, a: usize, b: usize) -> (ConnId, ConnId) {
        self.link_as(a, ConnKind::Peer, b, ConnKind::Peer)
    }

    /// Links two nodes, each end giving the link the kind stated (e.g. an application's
    /// embedded router and the node it connects to as an edge).
    pub fn link_as(
        &mut self,
        a: usize,
        kind_a: ConnKind,
        b: usize,
        kind_b: ConnKind,
    ) -> (ConnId, ConnId) {
        let (ca, cb) = (self.fresh_conn(), self.fresh_conn());
        self.ends[a].insert(
            ca,
            Far::Node {
                node: b,
                conn: cb,
                kind: kind_a,
            },
        );
        self.ends[b].insert(
            cb,
            Far::Node {
                node: a,
                conn: ca,
                kind: kind_b,
            },
        );
        self.connect_link(a, ca, b, cb);
        (ca, cb)
    }

    fn connect_link(&mut self, a: usize, ca: ConnId, b: usize, cb: ConnId) {
        for (node, conn) in [(a, ca), (b, cb)] {
            let Some(Far::Node { kind, .. }) = self.ends[node].get(&conn).copied() else {
                panic!("not a link");
            };
            let mut out = Vec::new();
            self.nodes[node].add_connection(conn, kind, self.now, &mut out);
            self.dispatch(node, out);
        }
    }

    /// Drops the link between `a` and `b` (both ends notice, frames in flight are lost).
    pub fn cut(&mut self, a: usize, b: usize) {
        let (ca, cb) = self.link_ends(a, b);
        self.queues.remove(&(a, ca));
        self.queues.remove(&(b, cb));
        let mut out = Vec::new();
        self.nodes[a].remove_connection(ca, self.now, &mut out);
        self.dispatch(a, out);
        let mut out = Vec::new();
        self.nodes[b].remove_connection(cb, self.now, &mut out);
        self.dispatch(b, out);
    }

    /// Re-establishes a cut link under the same connection ids (as a reconnecting client link
    /// does).
    pub fn restore(&mut self, a: usize, b: usize) {
        let (ca, cb) = self.link_ends(a, b);
        self.connect_link(a, ca, b, cb);
    }

    /// Replaces node `n` by a fresh router (a restart): its links drop and come back.
    pub fn restart(&mut self, n: usize, config: RouterConfig, seed: u64) {
        let neighbours: Vec<usize> = self.ends[n]
            .values()
            .filter_map(|far| match far {
                Far::Node { node, .. } => Some(*node),
                Far::Client(_) => None,
            })
            .collect();
        for &m in &neighbours {
            self.cut(n, m);
        }
        self.nodes[n] = Router::new(config, seed);
        for (&conn, far) in &self.ends[n].clone() {
            if let Far::Client(_) = far {
                let mut out = Vec::new();
                self.nodes[n].add_connection(conn, ConnKind::Edge, self.now, &mut out);
                self.dispatch(n, out);
            }
        }
        for m in neighbours {
            self.restore(n, m);
        }
    }

    fn link_ends(&self, a: usize, b: usize) -> (ConnId, ConnId) {
        self.ends[a]
            .iter()
            .find_map(|(&ca, far)| match *far {
                Far::Node { node, conn, .. } if node == b => Some((ca, conn)),
                _ => None,
            })
            .expect("nodes are linked")
    }

    /// Attaches a client to `node` with `kind`; returns its index.
    pub fn client(&mut self, node: usize, kind: ConnKind) -> usize {
        let conn = self.fresh_conn();
        let index = self.clients.len();
        self.clients.push(Client {
            node,
            conn,
            received: Vec::new(),
            acks: Vec::new(),
        });
        self.ends[node].insert(conn, Far::Client(index));
        let mut out = Vec::new();
        self.nodes[node].add_connection(conn, kind, self.now, &mut out);
        self.dispatch(node, out);
        index
    }

    /// Advances the clock and runs every router's timers.
    pub fn advance(&mut self, by: std::time::Duration) {
        self.now += by;
        for node in 0..self.nodes.len() {
            let mut out = Vec::new();
            self.nodes[node].handle_timeout(self.now, &mut out);
            self.dispatch(node, out);
        }
    }

    /// The client sends `frame` to its node (delivered at once: it is the client's own hop).
    pub fn send(&mut self, client: usize, frame: Frame) {
        let (node, conn) = (self.clients[client].node, self.clients[client].conn);
        let mut out = Vec::new();
        self.nodes[node].handle_frame(conn, frame, self.now, &mut out);
        self.dispatch(node, out);
    }

    /// Subscribes `client` to `name`, with a fresh subscription id; returns the id.
    pub fn subscribe(&mut self, client: usize, name: &str) -> u64 {
        let id = self.next_sub_id;
        self.next_sub_id += 1;
        let name: Name = name.parse().expect("valid name");
        self.send(
            client,
            Frame::from_message(&builders::subscribe(&name, &name, id)).expect("frame"),
        );
        id
    }

    pub fn unsubscribe(&mut self, client: usize, name: &str, id: u64) {
        let name: Name = name.parse().expect("valid name");
        self.send(
            client,
            Frame::from_message(&builders::unsubscribe(&name, &name, id)).expect("frame"),
        );
    }

    /// `client` publishes `payload` to `name` with `fanout`.
    pub fn publish(&mut self, client: usize, name: &str, fanout: u32, payload: &str) {
        let source: Name = "org/sim/sender".parse().expect("valid name");
        let name: Name = name.parse().expect("valid name");
        let message = builders::publish(&source, &name, fanout, "msg", payload.to_owned().into());
        self.send(client, Frame::from_message(&message).expect("frame"));
    }

    fn dispatch(&mut self, node: usize, outputs: Vec<Output>) {
        for output in outputs {
            let Some((to, frame, ttl)) = output.transmission() else {
                continue;
            };
            // What the far end receives: the frame as the transport would write it.
            let wire =
                Frame::parse(frame.to_forwarded_bytes(ttl, None)).expect("re-encoded frame parses");
            match self.ends[node].get(&to) {
                Some(Far::Node {
                    node: far, conn, ..
                }) => {
                    self.queues
                        .entry((*far, *conn))
                        .or_default()
                        .push_back(wire);
                }
                Some(Far::Client(c)) => record(&mut self.clients[*c], &wire),
                None => panic!("router sent to unknown connection {to:?}"),
            }
        }
    }

    /// Delivers frames until no link carries any; panics if that takes more than `max` steps
    /// (a routing loop).
    pub fn settle(&mut self, max: u64) {
        let mut steps = 0;
        loop {
            let ready: Vec<(usize, ConnId)> = self
                .queues
                .iter()
                .filter(|(_, q)| !q.is_empty())
                .map(|(&k, _)| k)
                .collect();
            if ready.is_empty() {
                return;
            }
            let pick = match &mut self.rng {
                Some(rng) => ready[rng.gen_range(0..ready.len())],
                None => ready[0],
            };
            let Some(frame) = self.queues.get_mut(&pick).and_then(VecDeque::pop_front) else {
                continue;
            };
            let (node, conn) = pick;
            let mut out = Vec::new();
            self.nodes[node].handle_frame(conn, frame, self.now, &mut out);
            self.dispatch(node, out);
            steps += 1;
            self.delivered += 1;
            assert!(
                steps <= max,
                "network did not settle within {max} deliveries"
            );
        }
    }

    /// Takes the payloads `client` received so far.
    pub fn take(&mut self, client: usize) -> Vec<String> {
        std::mem::take(&mut self.clients[client].received)
    }
}

fn record(client: &mut Client, frame: &Frame) {
    match frame.kind() {
        FrameKind::Publish => {
            let message = frame.decode().expect("decodes");
            if let Some(MessageType::Publish(p)) = message.message_type
                && let Some(ContentType::AppPayload(app)) = p.msg.and_then(|m| m.content_type)
            {
                client
                    .received
                    .push(String::from_utf8_lossy(&app.blob).into_owned());
            }
        }
        FrameKind::SubscriptionAck => {
            if let Ok(proto::Message {
                message_type: Some(MessageType::SubscriptionAck(ack)),
                ..
            }) = frame.decode()
            {
                client.acks.push((ack.subscription_id, ack.success));
            }
        }
        _ => {}
    }
}
