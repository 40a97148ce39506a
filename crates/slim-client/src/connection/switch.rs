//! The switch: the task that hands each frame of a shared connection to the applications it
//! is for.
//!
//! It reads two sources, local frames first (they are replies the applications are waiting
//! on as often as not): the link (through a `LinkReader`, which resolves subscription
//! acknowledgements on the way and carries on across reconnections) and the frames the
//! applications send to each other. For each frame of a batch it asks the table who gets it;
//! then it hands each receiver its frames of the batch at once, waiting for room in its queue.
//! A local frame that is also for others (fanout > 1), or for nobody here any more, goes on to
//! the node.
//!
//! The switch also drives the link's HTTP/2 connection (it adopts it, as an application's
//! own driver does), so a received batch crosses one task, not two, before its applications.
//!
//! When the link is gone for good the table is emptied: every application's queue closes and
//! its driver sees the end of its link, as with a link of its own.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use slim_transport::AdoptedConnection;
use slim_wire::Frame;
use tokio::sync::mpsc;

use super::table::{Cursors, FastMap, Slot, Table};
use super::{ConnectionStats, Routing};
use crate::dataplane::{DataPlaneClient, LinkReader};

/// Frames taken from each source per wake-up.
const BATCH: usize = 256;

/// What the switch counted (read by `Connection::stats`).
#[derive(Debug, Default)]
pub(super) struct Counters {
    unrouted: AtomicU64,
    local: AtomicU64,
}

impl Counters {
    pub(super) fn snapshot(&self) -> ConnectionStats {
        ConnectionStats {
            unrouted: self.unrouted.load(Ordering::Relaxed),
            local: self.local.load(Ordering::Relaxed),
        }
    }
}

/// Runs until the link is gone for good (or the connection is dropped, which aborts it).
pub(super) async fn run(
    mut link: LinkReader,
    mut local: mpsc::Receiver<(Slot, Frame)>,
    client: DataPlaneClient,
    routing: Arc<Routing>,
    counters: Arc<Counters>,
) {
    let mut switch = Switch {
        client,
        routing,
        counters,
        cursors: Cursors::default(),
        targets: Vec::new(),
        outgoing: FastMap::default(),
    };
    // The link's HTTP/2 connection, driven by this task (see `driving`).
    let mut connection = None;
    let mut from_node = Vec::with_capacity(BATCH);
    let mut from_apps = Vec::with_capacity(BATCH);
    loop {
        let next = async {
            tokio::select! {
                biased;
                count = local.recv_many(&mut from_apps, BATCH) => Source::Apps(count),
                count = link.recv_batch(&mut from_node, BATCH) => Source::Node(count),
            }
        };
        let source = driving(&mut connection, next).await;
        let table = switch.routing.table.load_full();
        match source {
            // 0 only once the connection (which keeps a sender) is gone.
            Source::Apps(0) => return,
            Source::Apps(_) => {
                for (from, frame) in from_apps.drain(..) {
                    driving(&mut connection, switch.route_local(&table, from, frame)).await;
                }
            }
            Source::Node(0) => break,
            Source::Node(_) => {
                for frame in from_node.drain(..) {
                    switch.route_received(&table, frame);
                }
            }
        }
        driving(&mut connection, switch.hand_over(&table)).await;
        if let Some(handle) = link.take_connection() {
            connection = Some(handle.adopt());
        }
    }
    tracing::warn!("shared connection to the node lost for good");
    // Dropping the queues ends every application's link.
    switch.routing.close();
}

/// Where the switch's next frames came from, and how many.
enum Source {
    Apps(usize),
    Node(usize),
}

/// Runs `work` while driving the link's connection in the same task, polled first at every
/// wake-up: the socket's readiness wakes the switch directly, and what the applications
/// queued on the link is written even while the switch waits for an application's queue.
/// (Left on a task of its own, every received batch would cross one more task.)
async fn driving<F: Future>(connection: &mut Option<AdoptedConnection>, work: F) -> F::Output {
    let mut work = std::pin::pin!(work);
    std::future::poll_fn(|cx| {
        if let Some(adopted) = connection.as_mut()
            && Pin::new(adopted).poll(cx).is_ready()
        {
            // The link ended; the link task redials and hands over the next one.
            *connection = None;
        }
        work.as_mut().poll(cx)
    })
    .await
}

struct Switch {
    client: DataPlaneClient,
    routing: Arc<Routing>,
    counters: Arc<Counters>,
    cursors: Cursors,
    /// Receivers of the frame at hand (reused).
    targets: Vec<Slot>,
    /// Frames collected per application from one batch, handed over together: one queue
    /// operation (and at most one wake-up) per application and batch rather than per frame.
    outgoing: FastMap<Slot, Vec<Frame>>,
}

impl Switch {
    /// A frame from the node.
    fn route_received(&mut self, table: &Table, frame: Frame) {
        if self.collect(table, None, &frame) == 0 {
            self.counters.unrouted.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(destination = ?frame.destination(), "no application for a frame");
        }
    }

    /// A frame an application here sent to another one here (and maybe to others too).
    async fn route_local(&mut self, table: &Table, from: Slot, frame: Frame) {
        let delivered = self.collect(table, Some(from), &frame);
        self.counters
            .local
            .fetch_add(delivered as u64, Ordering::Relaxed);
        if delivered == 0 || frame.fanout() > 1 {
            // Disconnected: dropped, like the application's own link would.
            let _ = self.client.send_frame(frame).await;
        }
    }

    /// Adds `frame` to the batch of each application here that gets it; returns how many.
    fn collect(&mut self, table: &Table, from: Option<Slot>, frame: &Frame) -> usize {
        let Some(destination) = frame.destination() else {
            return 0;
        };
        self.targets.clear();
        table.select(
            destination,
            frame.fanout(),
            from,
            &mut self.cursors,
            &mut self.targets,
        );
        for member in &self.targets {
            self.outgoing
                .entry(*member)
                .or_default()
                .push(frame.clone());
        }
        self.targets.len()
    }

    /// Hands each application its batch, waiting for room in its queue.
    async fn hand_over(&mut self, table: &Table) {
        for (member, frames) in self.outgoing.drain() {
            // A closed queue is an application going away: nothing to deliver to.
            if let Some(queue) = table.queue(member) {
                let _ = queue.send(frames).await;
            }
        }
    }
}
