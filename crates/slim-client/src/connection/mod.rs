//! [`Connection`]: one link to a node shared by several applications of a process.
//!
//! By default every [`crate::App`] dials its own link. Applications built
//! [on a connection](crate::AppBuilder::connection) share one instead, as upstream's `Service`
//! does for the applications it hosts: one TCP (and TLS) connection, one link negotiation, one
//! set of subscriptions at the node. The node then sends a message for several of them once,
//! not once per application, and this process hands out the copies. A group whose members
//! live in one process costs the node one delivery instead of one per member.
//!
//! What the node would do between its connections, the connection does between its
//! applications (`table.rs`, the node's matching rules): a frame from the node goes to every
//! application that subscribed its destination (fanout > 1) or to one of them (fanout 1,
//! round-robin); a frame an application sends to another one here is handed over without
//! leaving the process, since the node never sends a frame back on the connection it came
//! from (fanout 1 prefers a local receiver, like the node prefers local connections; fanout > 1
//! also goes to the node for everyone else).
//!
//! One task (`switch.rs`) reads the link and the applications' local frames and hands each
//! frame to its receivers' queues, waiting for room: the applications of one connection share
//! its flow, so one that stops reading holds the others up, as it would hold up its own link.
//! And a message crosses one more task each way (the switch, then the application's driver)
//! than on an own link, whose driver drives the socket itself: a shared connection is for
//! throughput and fewer connections; applications that must not wait for each other, or need
//! the shortest round trip, take a link each (the default).
//!
//! Layout: this file the handle and its settings; `table.rs` subscriptions and matching;
//! `switch.rs` the task; `member.rs` an application's side of the connection.

mod member;
mod switch;
mod table;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use slim_transport::ClientConfig;
use slim_wire::{Frame, Name, NameKey};
use tokio::sync::mpsc;

use crate::config::default_link;
use crate::dataplane::{DataPlaneClient, DataPlaneConfig, SubscribeError};
use crate::error::ConnectError;
pub(crate) use member::Member;
use table::{Slot, Table};

/// Frames applications send to each other, queued for the switch.
const LOCAL_QUEUE: usize = 1024;
/// Batches of frames (each at most one read from the link) waiting for an application.
const QUEUED_BATCHES: usize = 4;

/// Settings of a [`Connection`].
#[derive(Clone, Debug)]
pub struct ConnectionConfig {
    /// The link to the node: endpoint, TLS, keepalive, reconnection backoff. Default as
    /// [`crate::AppConfig::link`].
    pub link: ClientConfig,
    /// Post-quantum link keys (X25519 + ML-KEM-768) in the link negotiation. Default false.
    pub post_quantum_link: bool,
    /// How long a subscription may wait for the node's acknowledgement. Default 10 s.
    pub subscription_timeout: Duration,
}

impl ConnectionConfig {
    /// Settings to reach the node at `endpoint`, everything else at its default.
    pub fn new(endpoint: impl Into<String>) -> Self {
        ConnectionConfig {
            link: default_link(endpoint),
            post_quantum_link: false,
            subscription_timeout: Duration::from_secs(10),
        }
    }
}

/// A link to a node that several [`crate::App`]s share (see
/// [`AppBuilder::connection`](crate::AppBuilder::connection)). Cheap to clone; the link
/// closes when the last clone and the last application on it are gone.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use slim_client::{App, Connection, ConnectionConfig};
/// let connection = Connection::connect(ConnectionConfig::new("http://127.0.0.1:46357")).await?;
/// let secret = "a shared secret of at least 32 bytes!";
/// let alice = App::builder("org/ns/alice".parse()?)
///     .shared_secret(secret)
///     .connection(&connection)
///     .connect()
///     .await?;
/// let bob = App::builder("org/ns/bob".parse()?)
///     .shared_secret(secret)
///     .connection(&connection)
///     .connect()
///     .await?;
/// # let _ = (alice, bob);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Connection {
    inner: Arc<Inner>,
}

/// What the handles, the members and the switch share.
#[derive(Debug)]
struct Inner {
    client: DataPlaneClient,
    routing: Arc<Routing>,
    /// Orders subscribing and releasing names at the node, and knows which are subscribed
    /// there (held across the node's answer).
    at_node: tokio::sync::Mutex<HashSet<NameKey>>,
    /// Frames the applications send to each other.
    local: mpsc::Sender<(Slot, Frame)>,
    next_slot: AtomicU64,
    counters: Arc<switch::Counters>,
    /// Stops the switch with the last handle.
    switch: tokio::task::AbortHandle,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.switch.abort();
        self.client.close();
    }
}

/// Locks a mutex, ignoring poisoning: nothing that holds these locks can panic half-way.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What a [`Connection`] counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionStats {
    /// Frames from the node for a name no application here subscribes (any longer): dropped.
    pub unrouted: u64,
    /// Frames handed from one application to another here without crossing the node.
    pub local: u64,
}

impl Connection {
    /// Dials the node and negotiates the link; the first dial's failure is returned. After
    /// that the connection redials by itself and restores every application's subscriptions.
    /// Must run inside a tokio runtime.
    pub async fn connect(config: ConnectionConfig) -> Result<Connection, ConnectError> {
        // The link's own name only names it in logs: subscriptions carry the name of the
        // application they are for.
        let placeholder = Name::new("slim", "client", "connection")?;
        let mut data_plane = DataPlaneConfig::new(config.link.endpoint.clone(), placeholder);
        data_plane.link = config.link;
        data_plane.post_quantum = config.post_quantum_link;
        data_plane.ack_timeout = config.subscription_timeout;
        let (client, reader) = DataPlaneClient::connect_direct(data_plane).await?;
        let routing = Arc::new(Routing::default());
        let (local, local_rx) = mpsc::channel(LOCAL_QUEUE);
        let counters = Arc::new(switch::Counters::default());
        // The switch polls the link's connection too: wakes between the two inside one poll
        // must not reschedule the task (see `slim_transport::absorbing_self_wakes`).
        let switch = tokio::spawn(slim_transport::absorbing_self_wakes(switch::run(
            reader,
            local_rx,
            client.clone(),
            routing.clone(),
            counters.clone(),
        )));
        Ok(Connection {
            inner: Arc::new(Inner {
                client,
                routing,
                at_node: tokio::sync::Mutex::new(HashSet::new()),
                local,
                next_slot: AtomicU64::new(1),
                counters,
                switch: switch.abort_handle(),
            }),
        })
    }

    /// True while the link to the node is up.
    pub fn is_connected(&self) -> bool {
        self.inner.client.is_connected()
    }

    /// What the connection counted so far.
    pub fn stats(&self) -> ConnectionStats {
        self.inner.counters.snapshot()
    }

    /// Attaches an application named `name`: its frames arrive on the returned queue, in
    /// batches (at most [`QUEUED_BATCHES`] of them waiting).
    pub(crate) fn attach(&self, name: Name) -> (Member, mpsc::Receiver<Vec<Frame>>) {
        let slot = self.inner.next_slot.fetch_add(1, Ordering::Relaxed);
        let (queue, frames) = mpsc::channel(QUEUED_BATCHES);
        self.inner
            .routing
            .edit(|table| table.add_member(slot, queue));
        (Member::new(self.inner.clone(), slot, name), frames)
    }
}

/// The table the switch and the members read, and how it changes.
#[derive(Debug, Default)]
struct Routing {
    /// The current snapshot.
    table: ArcSwap<Table>,
    /// Changes are made on a copy under this lock and then published.
    edits: Mutex<()>,
    /// Set when the link is gone for good: the table stays empty.
    closed: AtomicBool,
}

impl Routing {
    /// Changes the table on a copy and publishes it (not any more once closed).
    fn edit<R>(&self, change: impl FnOnce(&mut Table) -> R) -> R {
        let _edits = lock(&self.edits);
        let mut table = Table::clone(&self.table.load());
        let result = change(&mut table);
        if !self.closed.load(Ordering::Relaxed) {
            self.table.store(Arc::new(table));
        }
        result
    }

    /// Empties the table for good: every application's queue closes.
    fn close(&self) {
        let _edits = lock(&self.edits);
        self.closed.store(true, Ordering::Relaxed);
        self.table.store(Arc::new(Table::default()));
    }

    fn load(&self) -> arc_swap::Guard<Arc<Table>> {
        self.table.load()
    }
}

impl Inner {
    /// `member` (named `source`) subscribes `name`: here first, so that frames arriving right
    /// after the node's acknowledgement find it, then at the node unless it is subscribed
    /// there already.
    async fn subscribe(
        &self,
        member: Slot,
        source: &Name,
        name: &Name,
    ) -> Result<(), SubscribeError> {
        let key = name.key();
        let mut at_node = self.at_node.lock().await;
        self.routing.edit(|table| table.subscribe(member, key));
        if at_node.contains(&key) {
            return Ok(());
        }
        match self.client.subscribe_as(source, name).await {
            Ok(_) => {
                at_node.insert(key);
                Ok(())
            }
            Err(error) => {
                let _ = self.routing.edit(|table| table.unsubscribe(member, key));
                Err(error)
            }
        }
    }

    /// `member` withdraws a subscription; the node is told when nobody here has it any more.
    async fn unsubscribe(&self, member: Slot, name: &Name) -> Result<(), SubscribeError> {
        let key = name.key();
        let mut at_node = self.at_node.lock().await;
        self.routing
            .edit(|table| table.unsubscribe(member, key))
            .map_err(|_| SubscribeError::NotSubscribed)?;
        self.release(&mut at_node, name).await
    }

    /// Withdraws `name` at the node if no application here subscribes it now.
    async fn release(
        &self,
        at_node: &mut HashSet<NameKey>,
        name: &Name,
    ) -> Result<(), SubscribeError> {
        let key = name.key();
        if self.routing.load().is_subscribed(key) || !at_node.remove(&key) {
            return Ok(());
        }
        self.client.unsubscribe(name).await
    }

    /// Detaches `member`: its queue closes and the names only it had are withdrawn at the
    /// node (in the background: this runs when an application closes or is dropped).
    fn detach(self: &Arc<Self>, member: Slot) {
        let released = self.routing.edit(|table| table.remove_member(member));
        if released.is_empty() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let inner = self.clone();
        runtime.spawn(async move {
            let mut at_node = inner.at_node.lock().await;
            for key in released {
                let name = Name::from_key(key);
                if let Err(error) = inner.release(&mut at_node, &name).await {
                    tracing::debug!(%error, "releasing a closed application's subscription");
                }
            }
        });
    }
}
