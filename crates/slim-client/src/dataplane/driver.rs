//! The task that owns a client's link: dials, reconnects and restores subscriptions, and
//! either reads each link itself (resolving acknowledgements, filling the queued [`Inbox`]) or
//! hands it to a [`LinkReader`] and waits for the reader to report its end.
//!
//! [`Inbox`]: super::Inbox
//! [`LinkReader`]: super::LinkReader

use std::sync::Arc;

use slim_transport::{ConnectionHandle, ConnectionType, Link, LinkReceiver, LocalNode, OutFrame};
use slim_wire::{Frame, builders};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::DataPlaneConfig;
use super::reader::{Handover, take_acks};
use super::state::Shared;

/// Frames taken from the link per wake-up.
const BATCH: usize = 256;

/// Stops the driver when the last client handle goes away.
#[derive(Debug)]
pub(super) struct DriverGuard {
    task: JoinHandle<()>,
}

impl DriverGuard {
    pub(super) fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for DriverGuard {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Where received frames go.
pub(super) enum Sink {
    /// This task reads each link and queues the frames for the [`super::Inbox`].
    Queue(mpsc::Sender<Frame>),
    /// A [`super::LinkReader`] reads each link itself.
    Direct(mpsc::Sender<Handover>),
}

impl Sink {
    /// Resolves once nobody can take frames any more: a reader was dropped. Never for a queue,
    /// whose task keeps resolving subscription acknowledgements even when nobody reads.
    async fn closed(&self) {
        match self {
            Sink::Queue(_) => std::future::pending().await,
            Sink::Direct(links) => links.closed().await,
        }
    }
}

/// Starts the driver with an established first link.
pub(super) fn spawn(
    shared: Arc<Shared>,
    config: DataPlaneConfig,
    local: LocalNode,
    first: Link,
    sink: Sink,
) -> DriverGuard {
    shared.set_sender(Some(first.sender.clone()));
    shared.generation.send_replace(1);
    let task = tokio::spawn(async move {
        tokio::select! {
            () = run(&shared, config, local, first, &sink) => {}
            () = sink.closed() => {}
        }
        disconnected(&shared);
    });
    DriverGuard { task }
}

/// Receives from the first link, then keeps reconnecting (unless turned off).
async fn run(shared: &Shared, config: DataPlaneConfig, local: LocalNode, first: Link, sink: &Sink) {
    let Link {
        sender,
        receiver,
        connection,
        ..
    } = first;
    drop(sender);
    consume(shared, receiver, connection, sink).await;
    disconnected(shared);
    if !config.reconnect {
        return;
    }
    let error = slim_transport::reconnect(
        config.link.clone(),
        local,
        ConnectionType::Edge,
        move |link| session(shared, link, sink),
    )
    .await;
    tracing::error!(%error, "data-plane client stopped reconnecting");
}

fn disconnected(shared: &Shared) {
    shared.set_sender(None);
    shared.fail_all_acks();
}

/// One reconnected link: restore subscriptions, announce the new generation once they are
/// acknowledged, receive until the link ends.
async fn session(shared: &Shared, link: Link, sink: &Sink) {
    let Link {
        sender,
        receiver,
        connection,
        ..
    } = link;
    let mut waits = Vec::new();
    for subscribed in shared.renew_all() {
        let (id, source) = (subscribed.id, &subscribed.source);
        let Ok(frame) = Frame::from_message(&builders::subscribe(source, &subscribed.name, id))
        else {
            continue;
        };
        let (tx, rx) = oneshot::channel();
        shared.expect_ack(id, tx);
        if sender.send(OutFrame::as_is(frame)).await.is_err() {
            break;
        }
        waits.push((subscribed.name, rx));
    }
    shared.set_sender(Some(sender));
    let ack_timeout = shared.ack_timeout;
    let announce = async move {
        for (subscribed, rx) in waits {
            match tokio::time::timeout(ack_timeout, rx).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(error))) => {
                    tracing::warn!(name = %subscribed, %error, "restoring subscription refused");
                }
                _ => tracing::warn!(name = %subscribed, "restoring subscription not acknowledged"),
            }
        }
        shared.generation.send_modify(|g| *g += 1);
    };
    let received = consume(shared, receiver, connection, sink);
    tokio::pin!(received);
    tokio::select! {
        () = &mut received => {}
        () = announce => received.await,
    }
    disconnected(shared);
}

/// Lets the link be read until it ends: here, or by a reader.
async fn consume(
    shared: &Shared,
    receiver: LinkReceiver,
    connection: Option<ConnectionHandle>,
    sink: &Sink,
) {
    match sink {
        // The connection keeps its own task.
        Sink::Queue(inbox) => receive(shared, receiver, inbox).await,
        Sink::Direct(links) => {
            let (ended, end) = oneshot::channel();
            let handover = Handover {
                receiver,
                connection,
                ended,
            };
            if links.send(handover).await.is_ok() {
                // An error means the reader dropped the link (or was dropped): the link is
                // gone either way.
                let _ = end.await;
            }
        }
    }
}

/// Reads the link until it ends, queueing frames for the inbox.
async fn receive(shared: &Shared, mut receiver: LinkReceiver, inbox: &mpsc::Sender<Frame>) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        batch.clear();
        if let Err(end) = receiver.recv_batch(&mut batch, BATCH).await {
            tracing::info!(%end, "data-plane link ended");
            return;
        }
        take_acks(shared, &mut batch, 0);
        for frame in batch.drain(..) {
            // A full inbox holds the link here: back-pressure instead of buffering. A
            // dropped inbox means nobody reads; frames are discarded.
            let _ = inbox.send(frame).await;
        }
    }
}
