//! [`Core`]: the router behind a mutex, the table of live connections, and the tasks that
//! feed them.
//!
//! Each connection has one receive loop (an accepted link's runs on its connection task in
//! the server, a dialed link's on a task of its own). It takes a batch of frames from its link, locks the
//! core once for the whole batch, lets the router decide, resolves the outputs to destination
//! queues, unlocks, and then waits for room in those queues. A timer task drives the router's
//! acknowledgement timeouts. Nothing awaits while holding the lock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use futures_util::future::{AbortHandle, abortable};
use slim_router::{ConnId, ConnKind, Router, RouterStats};
use slim_transport::{ConnectionType, Direction, Link, LinkReceiver, LinkSender, LinkWork};
use slim_wire::Frame;
use tokio::sync::Notify;

use super::outbox::Outbox;
use crate::metrics::{NodeMetrics, kind_index};

/// Frames taken from a link per lock.
const BATCH: usize = 256;
/// First id given to accepted connections; ids below belong to configured links, which keep
/// theirs across reconnections.
pub(crate) const FIRST_ACCEPTED_ID: u64 = 1 << 32;

/// A live connection.
struct ConnEntry {
    sender: LinkSender,
    kind: ConnKind,
    /// Distinguishes successive connections under one id (configured links reconnect under
    /// the same id); only the task of the current one may remove it.
    epoch: u64,
    /// Stops the receive loop of an accepted connection when the node closes it.
    task: Option<AbortHandle>,
    /// The peer node id of an accepted peer link.
    peer_node: Option<String>,
}

/// Everything the lock guards.
pub(crate) struct State {
    router: Router,
    conns: HashMap<ConnId, ConnEntry>,
    /// Accepted peer links by peer node id: a reconnecting peer replaces its old link.
    peers: HashMap<String, ConnId>,
    next_accepted: u64,
    next_epoch: u64,
    /// When the timer task is due to run next.
    timer_deadline: Option<Instant>,
}

impl State {
    pub(crate) fn sender(&self, conn: ConnId) -> Option<&LinkSender> {
        self.conns.get(&conn).map(|entry| &entry.sender)
    }

    fn connection_counts(&self) -> [usize; 4] {
        let mut counts = [0; 4];
        for entry in self.conns.values() {
            counts[entry.kind.rank()] += 1;
        }
        counts
    }

    /// Removes a connection from the table and the router; returns its receive task.
    fn remove(&mut self, conn: ConnId, now: Instant, outbox: &mut Outbox) -> Option<AbortHandle> {
        let entry = self.conns.remove(&conn)?;
        if let Some(node) = &entry.peer_node
            && self.peers.get(node) == Some(&conn)
        {
            self.peers.remove(node);
        }
        self.router
            .remove_connection(conn, now, &mut outbox.outputs);
        outbox.resolve(self);
        entry.task
    }
}

/// The shared heart of one node.
pub(crate) struct Core {
    state: Mutex<State>,
    timer: Notify,
    pub(crate) metrics: NodeMetrics,
    pub(crate) node_id: String,
}

fn conn_kind(connection_type: ConnectionType) -> ConnKind {
    match connection_type {
        ConnectionType::Edge => ConnKind::Edge,
        ConnectionType::Peer => ConnKind::Peer,
        ConnectionType::Remote => ConnKind::Remote,
    }
}

impl Core {
    pub(crate) fn new(router: Router, node_id: String) -> Arc<Core> {
        Arc::new(Core {
            state: Mutex::new(State {
                router,
                conns: HashMap::new(),
                peers: HashMap::new(),
                next_accepted: FIRST_ACCEPTED_ID,
                next_epoch: 0,
                timer_deadline: None,
            }),
            timer: Notify::new(),
            metrics: NodeMetrics::new(&node_id),
            node_id,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing that runs under the lock panics on input; if something did, the tables are
        // still the router's to judge, so keep serving rather than poison every connection.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A snapshot of the router's counters.
    pub(crate) fn stats(&self) -> RouterStats {
        self.lock().router.stats()
    }

    /// Copies the router's counters and the connection counts into the metrics (run before
    /// each scrape).
    pub(crate) fn record_router_metrics(&self) {
        let (stats, counts) = {
            let state = self.lock();
            (state.router.stats(), state.connection_counts())
        };
        self.metrics.record_router(&stats, counts);
    }

    /// Registers a negotiated link with the router. `conn` is the configured link's id, or
    /// `None` to allocate one for an accepted link. Returns the id, the epoch, and outputs to
    /// flush (e.g. the full sync a new peer gets).
    fn register(
        &self,
        conn: Option<ConnId>,
        link_sender: LinkSender,
        info: &slim_transport::LinkInfo,
        outbox: &mut Outbox,
    ) -> (ConnId, u64, Option<AbortHandle>) {
        let kind = conn_kind(info.connection_type);
        let now = Instant::now();
        let mut state = self.lock();
        let mut replaced = None;
        let peer_node = (info.direction == Direction::Accepted
            && kind == ConnKind::Peer
            && !info.peer.node_id.is_empty())
        .then(|| info.peer.node_id.clone());
        if let Some(node) = &peer_node
            && let Some(old) = state.peers.get(node).copied()
        {
            // The router requires the old link gone before the new one's sync arrives.
            tracing::info!(peer = %node, old = %old, "peer reconnected; closing its previous link");
            replaced = state.remove(old, now, outbox);
        }
        let conn = conn.unwrap_or_else(|| {
            let id = ConnId(state.next_accepted);
            state.next_accepted += 1;
            id
        });
        let epoch = state.next_epoch;
        state.next_epoch += 1;
        if let Some(node) = &peer_node {
            state.peers.insert(node.clone(), conn);
        }
        state.conns.insert(
            conn,
            ConnEntry {
                sender: link_sender,
                kind,
                epoch,
                task: None,
                peer_node,
            },
        );
        state
            .router
            .add_connection(conn, kind, now, &mut outbox.outputs);
        outbox.resolve(&state);
        self.arm_timer(&mut state);
        (conn, epoch, replaced)
    }

    /// Removes `conn` if it is still the connection of `epoch`.
    fn unregister(&self, conn: ConnId, epoch: u64, outbox: &mut Outbox) {
        let mut state = self.lock();
        if state.conns.get(&conn).is_some_and(|e| e.epoch == epoch) {
            state.remove(conn, Instant::now(), outbox);
            self.arm_timer(&mut state);
        }
    }

    /// Routes one batch of frames from `conn`.
    fn route(&self, conn: ConnId, frames: &mut Vec<Frame>, outbox: &mut Outbox) {
        let mut counts = [0u64; 5];
        for frame in frames.iter() {
            counts[kind_index(frame.kind())] += 1;
        }
        self.metrics.count_in(&counts);
        let now = Instant::now();
        let mut state = self.lock();
        for frame in frames.drain(..) {
            state
                .router
                .handle_frame(conn, frame, now, &mut outbox.outputs);
        }
        outbox.resolve(&state);
        self.arm_timer(&mut state);
    }

    /// Wakes the timer task if the router now needs it earlier than planned.
    fn arm_timer(&self, state: &mut State) {
        if let Some(due) = state.router.poll_timeout()
            && state.timer_deadline.is_none_or(|planned| due < planned)
        {
            state.timer_deadline = Some(due);
            self.timer.notify_one();
        }
    }

    /// Accepts a link from a server: registers it and returns its receive loop, which the
    /// server runs on the link's connection task.
    pub(crate) fn accept(self: &Arc<Self>, link: Link) -> LinkWork {
        let Link {
            info,
            sender,
            receiver,
            ..
        } = link;
        let mut outbox = Outbox::default();
        let (conn, epoch, replaced) = self.register(None, sender, &info, &mut outbox);
        if let Some(task) = replaced {
            task.abort();
        }
        tracing::debug!(%conn, link_id = %info.link_id, "connection registered");
        let core = self.clone();
        let (work, abort) = abortable(async move {
            outbox.flush(&core.metrics).await;
            core.receive(conn, epoch, receiver, outbox).await;
        });
        let mut state = self.lock();
        match state.conns.get_mut(&conn) {
            Some(entry) if entry.epoch == epoch => entry.task = Some(abort),
            // Already gone (closed or replaced) before we got here.
            _ => abort.abort(),
        }
        Box::pin(async move {
            // Aborted: the node removed the connection itself.
            let _ = work.await;
        })
    }

    /// Runs a dialed link under its configured id until it ends.
    pub(crate) async fn run_dialed(self: Arc<Self>, conn: ConnId, link: Link) {
        let Link {
            info,
            sender,
            receiver,
            ..
        } = link;
        let mut outbox = Outbox::default();
        let (conn, epoch, _) = self.register(Some(conn), sender, &info, &mut outbox);
        outbox.flush(&self.metrics).await;
        self.receive(conn, epoch, receiver, outbox).await;
    }

    /// The receive loop of one connection; unregisters it when the link ends.
    async fn receive(
        &self,
        conn: ConnId,
        epoch: u64,
        mut receiver: LinkReceiver,
        mut outbox: Outbox,
    ) {
        let mut frames = Vec::with_capacity(BATCH);
        loop {
            if let Err(end) = receiver.recv_batch(&mut frames, BATCH).await {
                tracing::info!(%conn, %end, "connection ended");
                break;
            }
            self.route(conn, &mut frames, &mut outbox);
            outbox.flush(&self.metrics).await;
        }
        self.unregister(conn, epoch, &mut outbox);
        outbox.flush(&self.metrics).await;
    }

    /// Drives the router's timers; never returns.
    pub(crate) async fn run_timer(self: Arc<Self>) {
        let mut outbox = Outbox::default();
        loop {
            // Only when the router has a deadline: a periodic wake-up would keep an idle
            // node's CPUs from resting (and `runtime.cpu_idle_poll` held for good).
            let wake = {
                let mut state = self.lock();
                let due = state.router.poll_timeout();
                state.timer_deadline = due;
                due
            };
            match wake {
                Some(wake) => tokio::select! {
                    () = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {}
                    () = self.timer.notified() => continue,
                },
                None => {
                    self.timer.notified().await;
                    continue;
                }
            }
            {
                let mut state = self.lock();
                state
                    .router
                    .handle_timeout(Instant::now(), &mut outbox.outputs);
                outbox.resolve(&state);
            }
            outbox.flush(&self.metrics).await;
        }
    }

    /// Closes every connection (shutdown): the links end as their senders go.
    pub(crate) fn close_all(&self) {
        let mut outbox = Outbox::default();
        let mut state = self.lock();
        let now = Instant::now();
        let conns: Vec<ConnId> = state.conns.keys().copied().collect();
        for conn in conns {
            if let Some(task) = state.remove(conn, now, &mut outbox) {
                task.abort();
            }
            outbox.clear();
        }
    }
}
