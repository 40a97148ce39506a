//! How an application reaches its node: [`Uplink`] (sending, subscribing) and [`Intake`]
//! (receiving), over a link of its own or over a shared [`crate::Connection`].
//!
//! The driver and the handles use these two and never ask which it is; the difference is in
//! what happens underneath: an own link is read directly by the driver (which also adopts its
//! HTTP/2 connection), a shared one is read by the connection's switch, which queues each
//! application's frames for it.

use std::collections::VecDeque;
use std::time::Duration;

use slim_transport::ConnectionHandle;
use slim_wire::{Frame, Name};
use tokio::sync::mpsc;

use crate::connection::Member;
use crate::dataplane::{DataPlaneClient, LinkReader, SendError, SubscribeError};

/// The sending side of an application's way to its node. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Uplink {
    /// The link (the application's own, or the shared connection's).
    client: DataPlaneClient,
    /// Set when the link is shared.
    member: Option<Member>,
}

impl Uplink {
    pub(crate) fn own(client: DataPlaneClient) -> Self {
        Uplink {
            client,
            member: None,
        }
    }

    pub(crate) fn shared(member: Member) -> Self {
        Uplink {
            client: member.client().clone(),
            member: Some(member),
        }
    }

    /// True while the link to the node is up.
    pub(crate) fn is_connected(&self) -> bool {
        self.client.is_connected()
    }

    /// How many times the link was established (see [`DataPlaneClient::generation`]).
    pub(crate) fn generation(&self) -> u64 {
        self.client.generation()
    }

    /// See [`DataPlaneClient::wait_generation`].
    pub(crate) async fn wait_generation(&self, generation: u64, timeout: Duration) -> u64 {
        self.client.wait_generation(generation, timeout).await
    }

    /// How long a subscription waits for the node's acknowledgement.
    pub(crate) fn ack_timeout(&self) -> Duration {
        self.client.ack_timeout()
    }

    pub(crate) fn try_send_frame(&self, frame: Frame) -> Result<(), SendError> {
        match &self.member {
            Some(member) => member.try_send_frame(frame),
            None => self.client.try_send_frame(frame),
        }
    }

    pub(crate) async fn send_frame(&self, frame: Frame) -> Result<(), SendError> {
        match &self.member {
            Some(member) => member.send_frame(frame).await,
            None => self.client.send_frame(frame).await,
        }
    }

    pub(crate) async fn subscribe(&self, name: &Name) -> Result<(), SubscribeError> {
        match &self.member {
            Some(member) => member.subscribe(name).await,
            None => self.client.subscribe(name).await.map(|_| ()),
        }
    }

    pub(crate) async fn unsubscribe(&self, name: &Name) -> Result<(), SubscribeError> {
        match &self.member {
            Some(member) => member.unsubscribe(name).await,
            None => self.client.unsubscribe(name).await,
        }
    }

    /// Waits (at most `limit`) for what was sent to leave this process.
    pub(crate) async fn flush(&self, limit: Duration) {
        if let Some(member) = &self.member {
            member.flush_local(limit).await;
        }
        self.client.flush(limit).await;
    }

    /// Closes the application's way to the node: its own link, or its place on the shared
    /// connection (which stays up for the others).
    pub(crate) fn close(&self) {
        match &self.member {
            Some(member) => member.detach(),
            None => self.client.close(),
        }
    }
}

/// The receiving side of an application's way to its node.
#[derive(Debug)]
pub(crate) enum Intake {
    /// Its own link, read directly.
    Own(Box<LinkReader>),
    /// Its queue on a shared connection, which the switch fills a batch at a time, and
    /// what is left of the batch taken last.
    Shared {
        queue: mpsc::Receiver<Vec<Frame>>,
        left: VecDeque<Frame>,
    },
}

impl Intake {
    pub(crate) fn own(reader: LinkReader) -> Self {
        Intake::Own(Box::new(reader))
    }

    pub(crate) fn shared(queue: mpsc::Receiver<Vec<Frame>>) -> Self {
        Intake::Shared {
            queue,
            left: VecDeque::new(),
        }
    }

    /// Waits for at least one frame, then appends up to `limit` (at least 1) frames already
    /// received; 0 means the link is gone for good. Cancel-safe.
    pub(crate) async fn recv_batch(&mut self, out: &mut Vec<Frame>, limit: usize) -> usize {
        let limit = limit.max(1);
        match self {
            Intake::Own(reader) => reader.recv_batch(out, limit).await,
            Intake::Shared { queue, left } => {
                if left.is_empty() {
                    match queue.recv().await {
                        Some(batch) => left.extend(batch),
                        None => return 0,
                    }
                }
                let take = left.len().min(limit);
                out.extend(left.drain(..take));
                take
            }
        }
    }

    /// Stops taking frames (the application is closing): a shared connection's switch no
    /// longer waits for room in this queue.
    pub(crate) fn close(&mut self) {
        if let Intake::Shared { queue, .. } = self {
            queue.close();
        }
    }

    /// An own link's HTTP/2 connection, for the driver to drive (see
    /// [`LinkReader::take_connection`]); a shared connection's stays with its task.
    pub(crate) fn take_connection(&mut self) -> Option<ConnectionHandle> {
        match self {
            Intake::Own(reader) => reader.take_connection(),
            Intake::Shared { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_frames::numbered;

    fn numbers(frames: &[Frame]) -> Vec<u8> {
        frames
            .iter()
            .map(|frame| crate::dataplane::app_payload(frame).unwrap()[0])
            .collect()
    }

    #[tokio::test]
    async fn a_shared_batch_is_read_within_the_limit_in_order_and_the_end_is_seen() {
        let (queue, receiver) = mpsc::channel(4);
        let mut intake = Intake::shared(receiver);
        queue.send((0..5).map(numbered).collect()).await.unwrap();
        queue.send(vec![numbered(5)]).await.unwrap();
        drop(queue);
        let mut out = Vec::new();
        assert_eq!(intake.recv_batch(&mut out, 2).await, 2);
        assert_eq!(intake.recv_batch(&mut out, 2).await, 2);
        assert_eq!(
            intake.recv_batch(&mut out, 8).await,
            1,
            "what the batch left"
        );
        assert_eq!(intake.recv_batch(&mut out, 8).await, 1);
        assert_eq!(numbers(&out), [0, 1, 2, 3, 4, 5]);
        assert_eq!(
            intake.recv_batch(&mut out, 8).await,
            0,
            "the switch is gone"
        );
    }
}
