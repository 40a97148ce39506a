//! A minimal data-plane client: one link to one node, subscriptions that survive
//! reconnects, publishes, and an inbox of received frames.
//!
//! [`DataPlaneClient`] is a cheap-clone handle. Publishing goes straight onto the link's
//! bounded queue (no actor hop), so a slow node back-pressures the publisher. A driver task
//! owns the link: it reads frames, resolves subscription acks, pushes everything else into
//! the bounded [`Inbox`] (an application that stops reading back-pressures the node), and on
//! a lost link redials with backoff and re-subscribes everything that was subscribed before
//! reporting itself connected again.
//!
//! The application's session driver does not need the inbox queue: it reads the link itself
//! through a crate-internal [`LinkReader`] (one task wake-up less per received batch) and
//! applies its own back-pressure; the link task then only dials, redials and restores.
//!
//! Layout: this file holds the handle and its settings; `driver.rs` the link task; `inbox.rs`
//! the queued receiving end; `reader.rs` the direct one; `state.rs` the state shared between
//! handles and the driver.

mod driver;
mod inbox;
mod reader;
mod state;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use slim_transport::{ClientConfig, ConnectionType, DialError, LocalNode, OutFrame};
use slim_wire::{Frame, Name, builders};
use tokio::sync::{mpsc, oneshot};

pub use inbox::{Inbox, app_payload};
pub(crate) use reader::LinkReader;
use state::Shared;

/// Settings of a [`DataPlaneClient`].
#[derive(Debug, Clone)]
pub struct DataPlaneConfig {
    /// The link to the node (endpoint, TLS, backoff, ...). Its `connection_type` defaults to
    /// `edge`.
    pub link: ClientConfig,
    /// This application's name: the source of its subscriptions and publishes.
    pub name: Name,
    /// Post-quantum link keys.
    pub post_quantum: bool,
    /// Frames buffered for the application before the link stops reading. Default 1024.
    pub inbox_capacity: usize,
    /// How long `subscribe` and `unsubscribe` wait for the node's acknowledgement. Default 10 s.
    pub ack_timeout: Duration,
    /// Redial and restore subscriptions when the link is lost. Default true.
    pub reconnect: bool,
}

impl DataPlaneConfig {
    /// Settings to reach `endpoint` as `name`, everything else at its default.
    pub fn new(endpoint: impl Into<String>, name: Name) -> Self {
        DataPlaneConfig {
            link: ClientConfig::with_endpoint(endpoint),
            name,
            post_quantum: false,
            inbox_capacity: 1024,
            ack_timeout: Duration::from_secs(10),
            reconnect: true,
        }
    }
}

/// Why a subscribe or unsubscribe failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscribeError {
    /// No link to the node right now.
    #[error("not connected to the node")]
    Disconnected,
    /// The node answered with an error.
    #[error("the node refused: {0}")]
    Refused(String),
    /// No acknowledgement within the timeout.
    #[error("no acknowledgement within {0:?}")]
    Timeout(Duration),
    /// `unsubscribe` for a name this client has not subscribed.
    #[error("not subscribed")]
    NotSubscribed,
}

/// Why a frame was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// No link to the node right now.
    #[error("not connected to the node")]
    Disconnected,
    /// `try_send` only: the link's queue is full.
    #[error("link queue full")]
    Full,
    /// The message could not be built.
    #[error("invalid message: {0}")]
    Invalid(String),
}

/// A handle to a data-plane client. Clones share the link; the link closes when the last
/// handle is dropped (or on [`DataPlaneClient::close`]).
#[derive(Clone, Debug)]
pub struct DataPlaneClient {
    shared: Arc<Shared>,
    _owner: Arc<driver::DriverGuard>,
}

impl DataPlaneClient {
    /// Dials the node and negotiates the link; the first dial's failure is returned. After
    /// that the client reconnects by itself (unless `reconnect` is off).
    pub async fn connect(config: DataPlaneConfig) -> Result<(DataPlaneClient, Inbox), DialError> {
        let (inbox_tx, inbox_rx) = mpsc::channel(config.inbox_capacity.max(1));
        let name = config.name.clone();
        let (client, _) = Self::start(config, driver::Sink::Queue(inbox_tx)).await?;
        Ok((client, Inbox::new(inbox_rx, name)))
    }

    /// [`DataPlaneClient::connect`] with a reader of the link instead of the queued inbox.
    /// Subscription acknowledgements (also those restoring subscriptions after a reconnect)
    /// and the end of a link are only seen while the reader is read: its owner must read it
    /// whenever it can take frames, also while it waits for a `subscribe`.
    pub(crate) async fn connect_direct(
        config: DataPlaneConfig,
    ) -> Result<(DataPlaneClient, LinkReader), DialError> {
        // One link at a time: the link task waits for the reader to finish each one.
        let (links_tx, links_rx) = mpsc::channel(1);
        let (client, shared) = Self::start(config, driver::Sink::Direct(links_tx)).await?;
        Ok((client, LinkReader::new(shared, links_rx)))
    }

    /// Dials the first link and starts the link task.
    async fn start(
        config: DataPlaneConfig,
        sink: driver::Sink,
    ) -> Result<(DataPlaneClient, Arc<Shared>), DialError> {
        let local = LocalNode {
            node_id: String::new(),
            deployment_name: String::new(),
            post_quantum: config.post_quantum,
        };
        let link = slim_transport::dial(&config.link, &local, ConnectionType::Edge).await?;
        let shared = Arc::new(Shared::new(config.name.clone(), config.ack_timeout));
        let guard = driver::spawn(shared.clone(), config, local, link, sink);
        let client = DataPlaneClient {
            shared: shared.clone(),
            _owner: Arc::new(guard),
        };
        Ok((client, shared))
    }

    /// How long `subscribe` and `unsubscribe` wait for the node's acknowledgement.
    pub fn ack_timeout(&self) -> Duration {
        self.shared.ack_timeout
    }

    /// True while a link to the node is up.
    pub fn is_connected(&self) -> bool {
        self.shared.sender().is_some()
    }

    /// How many times a link has been established and its subscriptions restored (1 after
    /// `connect`).
    pub fn generation(&self) -> u64 {
        *self.shared.generation.borrow()
    }

    /// Waits until the link has been (re)established at least `generation` times, or the
    /// timeout passes. Returns the generation reached.
    pub async fn wait_generation(&self, generation: u64, timeout: Duration) -> u64 {
        let mut watch = self.shared.generation.subscribe();
        let _ = tokio::time::timeout(timeout, watch.wait_for(|g| *g >= generation)).await;
        *watch.borrow()
    }

    /// Subscribes to `name` (with its instance id, or any instance) and waits for the node's
    /// acknowledgement. The subscription is restored after every reconnect until
    /// [`DataPlaneClient::unsubscribe`].
    pub async fn subscribe(&self, name: &Name) -> Result<u64, SubscribeError> {
        self.subscribe_as(&self.shared_name(), name).await
    }

    /// [`DataPlaneClient::subscribe`] on behalf of `source`, the application the subscription
    /// is for (a [`crate::Connection`] serves several).
    pub(crate) async fn subscribe_as(
        &self,
        source: &Name,
        name: &Name,
    ) -> Result<u64, SubscribeError> {
        let id = self.shared.next_subscription_id();
        let message = builders::subscribe(source, name, id);
        self.request(id, message).await?;
        self.shared.remember(source.clone(), name.clone(), id);
        Ok(id)
    }

    /// Withdraws a subscription made with [`DataPlaneClient::subscribe`] and waits for the
    /// acknowledgement (immediately `Ok` while disconnected: the node forgot it anyway).
    pub async fn unsubscribe(&self, name: &Name) -> Result<(), SubscribeError> {
        // The name as subscribed (with its strings) and by whom.
        let Some(subscribed) = self.shared.forget(name) else {
            return Err(SubscribeError::NotSubscribed);
        };
        if !self.is_connected() {
            return Ok(());
        }
        let id = self.shared.next_subscription_id();
        let message = builders::unsubscribe(&subscribed.source, &subscribed.name, id);
        self.request(id, message).await
    }

    fn shared_name(&self) -> Name {
        self.shared.name()
    }

    async fn request(
        &self,
        id: u64,
        message: slim_wire::proto::Message,
    ) -> Result<(), SubscribeError> {
        let frame = Frame::from_message(&message)
            .map_err(|e| SubscribeError::Refused(format!("invalid subscription: {e}")))?;
        let sender = self.shared.sender().ok_or(SubscribeError::Disconnected)?;
        let (tx, rx) = oneshot::channel();
        self.shared.expect_ack(id, tx);
        if sender.send(OutFrame::as_is(frame)).await.is_err() {
            self.shared.cancel_ack(id);
            return Err(SubscribeError::Disconnected);
        }
        let timeout = self.shared.ack_timeout;
        match tokio::time::timeout(timeout, rx).await {
            Err(_) => {
                self.shared.cancel_ack(id);
                Err(SubscribeError::Timeout(timeout))
            }
            Ok(Err(_)) => Err(SubscribeError::Disconnected),
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(error))) => Err(SubscribeError::Refused(error)),
        }
    }

    /// Publishes `payload` to `destination` from this client's name. `fanout` 1 delivers to
    /// one matching subscriber (the exact instance when `destination` has an id); more
    /// delivers to every match.
    pub async fn publish(
        &self,
        destination: &Name,
        fanout: u32,
        payload: Bytes,
    ) -> Result<(), SendError> {
        let message = builders::publish(&self.shared_name(), destination, fanout, "msg", payload);
        let frame = Frame::build(&message).map_err(|e| SendError::Invalid(e.to_string()))?;
        self.send_frame(frame).await
    }

    /// Sends a prepared frame as it is (its TTL unchanged, signed for the link), waiting for
    /// room in the link's queue. Load generators reuse one frame this way.
    pub async fn send_frame(&self, frame: Frame) -> Result<(), SendError> {
        let sender = self.shared.sender().ok_or(SendError::Disconnected)?;
        sender
            .send(OutFrame::as_is(frame))
            .await
            .map_err(|_| SendError::Disconnected)
    }

    /// Sends a prepared frame if the link's queue has room now.
    pub fn try_send_frame(&self, frame: Frame) -> Result<(), SendError> {
        let sender = self.shared.sender().ok_or(SendError::Disconnected)?;
        sender
            .try_send(OutFrame::as_is(frame))
            .map_err(|e| match e {
                slim_transport::queue::TrySendError::Full(_) => SendError::Full,
                slim_transport::queue::TrySendError::Closed => SendError::Disconnected,
            })
    }

    /// Waits (at most `limit`) until the link's queue has been handed to the connection, so
    /// that frames sent just before [`DataPlaneClient::close`] (a last acknowledgement, a
    /// leave reply) are not dropped with the link.
    pub async fn flush(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while let Some(sender) = self.shared.sender() {
            if sender.queued() == 0 || tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // One more turn for the writer to pass what it took out to the socket.
        tokio::task::yield_now().await;
    }

    /// Closes the link and stops reconnecting; the inbox ends after what it holds.
    pub fn close(&self) {
        self._owner.stop();
    }
}
