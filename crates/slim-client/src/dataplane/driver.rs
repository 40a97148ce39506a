//! The task that owns a client's link: receives, resolves acknowledgements, fills the inbox,
//! and reconnects.

use std::sync::Arc;

use slim_transport::{ConnectionType, Link, LinkReceiver, LocalNode, OutFrame};
use slim_wire::{Frame, FrameKind, builders, proto};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::DataPlaneConfig;
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

/// Starts the driver with an established first link.
pub(super) fn spawn(
    shared: Arc<Shared>,
    config: DataPlaneConfig,
    local: LocalNode,
    first: Link,
    inbox: mpsc::Sender<Frame>,
) -> DriverGuard {
    shared.set_sender(Some(first.sender.clone()));
    shared.generation.send_replace(1);
    let task = tokio::spawn(async move {
        let Link {
            sender, receiver, ..
        } = first;
        drop(sender);
        receive(&shared, receiver, &inbox).await;
        disconnected(&shared);
        if !config.reconnect {
            return;
        }
        let shared = &shared;
        let inbox = &inbox;
        let error = slim_transport::reconnect(
            config.link.clone(),
            local,
            ConnectionType::Edge,
            move |link| session(shared, link, inbox),
        )
        .await;
        tracing::error!(%error, "data-plane client stopped reconnecting");
        disconnected(shared);
    });
    DriverGuard { task }
}

fn disconnected(shared: &Shared) {
    shared.set_sender(None);
    shared.fail_all_acks();
}

/// One reconnected link: restore subscriptions, announce the new generation once they are
/// acknowledged, receive until the link ends.
async fn session(shared: &Shared, link: Link, inbox: &mpsc::Sender<Frame>) {
    let Link {
        sender, receiver, ..
    } = link;
    let mut waits = Vec::new();
    let name = shared.name();
    for (subscribed, id) in shared.renew_all() {
        let Ok(frame) = Frame::from_message(&builders::subscribe(&name, &subscribed, id)) else {
            continue;
        };
        let (tx, rx) = oneshot::channel();
        shared.expect_ack(id, tx);
        if sender.send(OutFrame::as_is(frame)).await.is_err() {
            break;
        }
        waits.push((subscribed, rx));
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
    let received = receive(shared, receiver, inbox);
    tokio::pin!(received);
    tokio::select! {
        () = &mut received => {}
        () = announce => received.await,
    }
    disconnected(shared);
}

/// Reads the link until it ends.
async fn receive(shared: &Shared, mut receiver: LinkReceiver, inbox: &mpsc::Sender<Frame>) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        batch.clear();
        if let Err(end) = receiver.recv_batch(&mut batch, BATCH).await {
            tracing::info!(%end, "data-plane link ended");
            return;
        }
        for frame in batch.drain(..) {
            if frame.kind() == FrameKind::SubscriptionAck {
                resolve(shared, &frame);
                continue;
            }
            // A full inbox holds the link here: back-pressure instead of buffering. A
            // dropped inbox means nobody reads; frames are discarded.
            let _ = inbox.send(frame).await;
        }
    }
}

fn resolve(shared: &Shared, frame: &Frame) {
    let result = match frame.decode().ok().and_then(|m| m.message_type) {
        Some(proto::message::MessageType::SubscriptionAck(ack)) if ack.success => Ok(()),
        Some(proto::message::MessageType::SubscriptionAck(ack)) => Err(ack.error),
        _ => return,
    };
    shared.resolve_ack(frame.subscription_id(), result);
}
