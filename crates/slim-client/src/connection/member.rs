//! [`Member`]: an application's side of a shared connection: how its frames leave and its
//! subscriptions are made.

use std::sync::Arc;
use std::time::Duration;

use slim_wire::{Frame, Name};
use tokio::sync::mpsc::error::TrySendError;

use super::Inner;
use super::table::Slot;
use crate::dataplane::{DataPlaneClient, SendError, SubscribeError};

/// An application attached to a [`super::Connection`]. Cheap to clone; the application is
/// detached when the last clone is dropped (or on [`Member::detach`]).
#[derive(Clone, Debug)]
pub(crate) struct Member {
    attachment: Arc<Attachment>,
}

#[derive(Debug)]
struct Attachment {
    connection: Arc<Inner>,
    slot: Slot,
    name: Name,
}

impl Drop for Attachment {
    fn drop(&mut self) {
        self.connection.detach(self.slot);
    }
}

impl Member {
    pub(super) fn new(connection: Arc<Inner>, slot: Slot, name: Name) -> Self {
        Member {
            attachment: Arc::new(Attachment {
                connection,
                slot,
                name,
            }),
        }
    }

    fn connection(&self) -> &Inner {
        &self.attachment.connection
    }

    /// The shared link (subscription generations, timeouts, whether it is up).
    pub(crate) fn client(&self) -> &DataPlaneClient {
        &self.connection().client
    }

    /// Whether `frame` is for another application on this connection: then it is handed over
    /// by the switch (which also sends it to the node when it is for others too) rather than
    /// put on the link, where the node would not send it back.
    fn stays_here(&self, frame: &Frame) -> bool {
        frame.destination().is_some_and(|destination| {
            self.connection()
                .routing
                .load()
                .reaches_another(destination, self.attachment.slot)
        })
    }

    /// Sends `frame` if there is room now.
    pub(crate) fn try_send_frame(&self, frame: Frame) -> Result<(), SendError> {
        if !self.stays_here(&frame) {
            return self.connection().client.try_send_frame(frame);
        }
        self.connection()
            .local
            .try_send((self.attachment.slot, frame))
            .map_err(|error| match error {
                TrySendError::Full(_) => SendError::Full,
                TrySendError::Closed(_) => SendError::Disconnected,
            })
    }

    /// Sends `frame`, waiting for room.
    pub(crate) async fn send_frame(&self, frame: Frame) -> Result<(), SendError> {
        if !self.stays_here(&frame) {
            return self.connection().client.send_frame(frame).await;
        }
        self.connection()
            .local
            .send((self.attachment.slot, frame))
            .await
            .map_err(|_| SendError::Disconnected)
    }

    /// Subscribes `name` for this application.
    pub(crate) async fn subscribe(&self, name: &Name) -> Result<(), SubscribeError> {
        let attachment = &self.attachment;
        self.connection()
            .subscribe(attachment.slot, &attachment.name, name)
            .await
    }

    /// Withdraws a subscription of this application.
    pub(crate) async fn unsubscribe(&self, name: &Name) -> Result<(), SubscribeError> {
        self.connection()
            .unsubscribe(self.attachment.slot, name)
            .await
    }

    /// Waits (at most `limit`) until the frames this application handed to other ones here
    /// were taken by the switch; the link's own queue is flushed by the caller.
    pub(crate) async fn flush_local(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        let local = &self.connection().local;
        while local.capacity() < local.max_capacity() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Detaches the application now: its queue closes and names only it subscribed are
    /// withdrawn at the node. The connection stays up for the others.
    pub(crate) fn detach(&self) {
        self.attachment.connection.detach(self.attachment.slot);
    }
}
