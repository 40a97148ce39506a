//! [`LinkReader`]: the link read directly by its consumer, without a task in between.
//!
//! The link task (`driver.rs`) still dials, redials and restores subscriptions, but instead of
//! reading each link and queueing its frames, it hands the link's receiving half over here and
//! waits until the reader reports that the link ended. The reader resolves subscription
//! acknowledgements on the way (they are the only frames the client itself consumes) and
//! returns everything else. That saves a task wake-up per received batch on the latency path;
//! the price is that acknowledgements, and the end of a link, are only seen while the reader
//! is read: its owner must read it whenever it can take frames.
//!
//! [`take_acks`] is shared with the queueing link task, so both paths treat acknowledgements
//! the same way.

use std::sync::Arc;

use slim_transport::{ConnectionHandle, LinkReceiver};
use slim_wire::{Frame, FrameKind, proto};
use tokio::sync::{mpsc, oneshot};

use super::state::Shared;

/// A link handed to a [`LinkReader`]: its receiving half, its connection to adopt (see
/// [`LinkReader::take_connection`]), and how the reader tells the link task that the link
/// ended (by sending, or by dropping the sender).
pub(super) struct Handover {
    pub(super) receiver: LinkReceiver,
    pub(super) connection: Option<ConnectionHandle>,
    pub(super) ended: oneshot::Sender<()>,
}

/// The receiving end of a client whose consumer reads the link itself (crate-internal: the
/// application's driver).
#[derive(Debug)]
pub(crate) struct LinkReader {
    shared: Arc<Shared>,
    links: mpsc::Receiver<Handover>,
    /// The link being read, and how to report its end.
    current: Option<(LinkReceiver, oneshot::Sender<()>)>,
    /// The current link's connection, until its owner takes it.
    connection: Option<ConnectionHandle>,
}

impl LinkReader {
    pub(super) fn new(shared: Arc<Shared>, links: mpsc::Receiver<Handover>) -> Self {
        LinkReader {
            shared,
            links,
            current: None,
            connection: None,
        }
    }

    /// The connection of the link handed over last, once: the application's driver adopts it
    /// and drives it in its own loop, so frames between the socket and the session layer do
    /// not cross a task. Until then (and for a client that never takes it) the connection
    /// runs on a task of its own.
    pub(crate) fn take_connection(&mut self) -> Option<ConnectionHandle> {
        self.connection.take()
    }

    /// Waits for at least one frame, then appends up to `limit` frames already received.
    /// Returns how many were appended; 0 means the client is closed (or gave up reconnecting).
    ///
    /// Cancel-safe: a poll either appends frames and returns, or takes nothing from the link.
    pub(crate) async fn recv_batch(&mut self, out: &mut Vec<Frame>, limit: usize) -> usize {
        loop {
            let Some((receiver, ended)) = &mut self.current else {
                // The link task hands over the next link, or is gone (client closed).
                match self.links.recv().await {
                    Some(handover) => {
                        self.connection = handover.connection;
                        self.current = Some((handover.receiver, handover.ended));
                    }
                    None => return 0,
                }
                continue;
            };
            let start = out.len();
            let result = tokio::select! {
                biased;
                result = receiver.recv_batch(out, limit) => Some(result),
                () = ended.closed() => None,
            };
            match result {
                // The link task stopped (client closed): stop reading its link.
                None => self.current = None,
                Some(Ok(())) => {
                    let kept = take_acks(&self.shared, out, start);
                    if kept > 0 {
                        return kept;
                    }
                }
                Some(Err(end)) => {
                    tracing::info!(%end, "data-plane link ended");
                    if let Some((_, ended)) = self.current.take() {
                        let _ = ended.send(());
                    }
                }
            }
        }
    }
}

/// Resolves the subscription acknowledgements among `out[start..]` and removes them, keeping
/// the order of the rest; returns how many frames are left there for the consumer.
pub(super) fn take_acks(shared: &Shared, out: &mut Vec<Frame>, start: usize) -> usize {
    let mut kept = start;
    for index in start..out.len() {
        let is_ack = out
            .get(index)
            .is_some_and(|frame| frame.kind() == FrameKind::SubscriptionAck);
        if is_ack {
            if let Some(ack) = out.get(index) {
                resolve(shared, ack);
            }
        } else {
            out.swap(kept, index);
            kept += 1;
        }
    }
    out.truncate(kept);
    kept - start
}

/// Resolves one subscription acknowledgement's waiter.
fn resolve(shared: &Shared, frame: &Frame) {
    let result = match frame.decode().ok().and_then(|m| m.message_type) {
        Some(proto::message::MessageType::SubscriptionAck(ack)) if ack.success => Ok(()),
        Some(proto::message::MessageType::SubscriptionAck(ack)) => Err(ack.error),
        _ => return,
    };
    shared.resolve_ack(frame.subscription_id(), result);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use slim_wire::{Name, builders};

    use super::*;
    use crate::test_frames::numbered;

    fn ack(id: u64, error: Option<&str>) -> Frame {
        Frame::from_message(&builders::subscription_ack(id, error.map(str::to_owned))).unwrap()
    }

    #[test]
    fn acknowledgements_are_resolved_and_removed_and_the_rest_keeps_its_order() {
        let shared = Shared::new(
            Name::new("org", "ns", "me").unwrap(),
            Duration::from_secs(1),
        );
        let (ok_tx, mut ok_rx) = oneshot::channel();
        let (refused_tx, mut refused_rx) = oneshot::channel();
        shared.expect_ack(7, ok_tx);
        shared.expect_ack(8, refused_tx);
        let mut out = vec![
            numbered(0),
            ack(7, None),
            numbered(1),
            ack(8, Some("no")),
            ack(99, None),
            numbered(2),
        ];
        assert_eq!(take_acks(&shared, &mut out, 1), 2);
        let payloads: Vec<_> = out
            .iter()
            .map(|frame| super::super::app_payload(frame).unwrap()[0])
            .collect();
        assert_eq!(
            payloads,
            [0, 1, 2],
            "frames before `start` untouched, order kept"
        );
        assert_eq!(ok_rx.try_recv().unwrap(), Ok(()));
        assert_eq!(refused_rx.try_recv().unwrap(), Err("no".to_owned()));
    }
}
