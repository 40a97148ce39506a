//! Connections as the router sees them: an id the node assigns and a kind.
//!
//! The kind decides three things: which category a route through the connection belongs to
//! (one-output routing prefers the nearest: [`ConnKind::Local`], then Edge, Peer, Remote), whether a frame
//! from it has its TTL decremented (not from Local), and whether its process-local header fields
//! (`forward_to`, `recv_from`) are honoured (only from Local).

use std::fmt;

use crate::hash::{KeyedMap, KeyedState};

/// A connection, identified by the node. Ids are opaque to the router; the node may reuse an id
/// for the reconnection of the same configured link (that is what lets remembered `forward_to`
/// subscriptions and routes follow the link across reconnects).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}

/// What is at the other end of a connection. The declaration order is the preference order of
/// one-output routing: nearest first. Upstream prefers other nodes (Remote, Peer) over
/// applications attached to this node (Edge); we prefer the attached instance, which keeps
/// anycast traffic on this node when it can be served here ("local first").
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum ConnKind {
    /// An application or control endpoint inside this process. Trusted with process-local
    /// header fields; no TTL decrement; told when its messages cannot be routed.
    Local,
    /// An application or first-hop client connected over the network.
    Edge,
    /// A node of the same deployment (node-to-node link); subscriptions propagate over it.
    Peer,
    /// A node of another domain, managed by the control plane.
    Remote,
}

impl ConnKind {
    /// All kinds in routing preference order.
    pub const ALL: [ConnKind; 4] = [
        ConnKind::Local,
        ConnKind::Edge,
        ConnKind::Peer,
        ConnKind::Remote,
    ];

    /// Position in the preference order (0 = most preferred).
    pub fn rank(self) -> usize {
        self as usize
    }

    /// Lower-case label for logs and listings.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnKind::Local => "local",
            ConnKind::Remote => "remote",
            ConnKind::Peer => "peer",
            ConnKind::Edge => "edge",
        }
    }

    /// Links to other nodes, over which a subscription can come back around a loop.
    pub(crate) fn is_node_link(self) -> bool {
        matches!(self, ConnKind::Remote | ConnKind::Peer)
    }
}

impl fmt::Display for ConnKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The live connections and, separately, the peers (walked on every propagation).
#[derive(Debug)]
pub(crate) struct ConnTable {
    kinds: KeyedMap<ConnId, ConnKind>,
    /// Peer connections in the order they were added, so propagation order is deterministic.
    peers: Vec<ConnId>,
}

impl ConnTable {
    pub(crate) fn new(hasher: KeyedState) -> Self {
        ConnTable {
            kinds: KeyedMap::with_hasher(hasher),
            peers: Vec::new(),
        }
    }

    pub(crate) fn kind(&self, conn: ConnId) -> Option<ConnKind> {
        self.kinds.get(&conn).copied()
    }

    pub(crate) fn contains(&self, conn: ConnId) -> bool {
        self.kinds.contains_key(&conn)
    }

    pub(crate) fn insert(&mut self, conn: ConnId, kind: ConnKind) {
        self.kinds.insert(conn, kind);
        if kind == ConnKind::Peer {
            self.peers.push(conn);
        }
    }

    pub(crate) fn remove(&mut self, conn: ConnId) -> Option<ConnKind> {
        let kind = self.kinds.remove(&conn)?;
        if kind == ConnKind::Peer {
            self.peers.retain(|&p| p != conn);
        }
        Some(kind)
    }

    pub(crate) fn peers(&self) -> &[ConnId] {
        &self.peers
    }

    pub(crate) fn len(&self) -> usize {
        self.kinds.len()
    }

    /// All connections, sorted by id for stable listings.
    pub(crate) fn sorted(&self) -> Vec<(ConnId, ConnKind)> {
        let mut all: Vec<_> = self.kinds.iter().map(|(&c, &k)| (c, k)).collect();
        all.sort_unstable();
        all
    }
}
