//! The bounded outbound queue of one link.
//!
//! Producers (the node's receive loops, an application's publish calls) put [`OutFrame`]s in
//! with [`LinkSender::send`], which waits for room: a link that cannot keep up slows down
//! whoever feeds it instead of growing memory. The link's writer drains the queue through
//! [`OutboundStream`], which takes every queued frame in one `recv_many` call, so a burst costs
//! one wake-up and the connection task encodes it into one buffer and one write.
//!
//! Memory bound: `capacity` frames in the queue plus at most [`DRAIN_BATCH`] taken out by the
//! writer, each at most the link's frame-size limit.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::mpsc;
use tokio_stream::Stream;

use crate::codec::OutFrame;

/// Most frames the writer takes out of the queue at once.
pub const DRAIN_BATCH: usize = 256;

/// Creates a link queue holding at most `capacity` frames (at least 1).
pub fn bounded(capacity: usize) -> (LinkSender, OutboundStream) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    (
        LinkSender { tx },
        OutboundStream {
            rx,
            batch: Vec::with_capacity(DRAIN_BATCH),
        },
    )
}

/// The link has closed; the frame was not queued.
#[derive(Debug, Clone, thiserror::Error)]
#[error("link closed")]
pub struct LinkClosed(pub OutFrame);

/// Why [`LinkSender::try_send`] did not queue a frame.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TrySendError {
    /// The queue is full; the frame is handed back.
    #[error("link queue full")]
    Full(OutFrame),
    /// The link has closed.
    #[error("link closed")]
    Closed(OutFrame),
}

/// The producing end of a link queue. Cheap to clone.
#[derive(Debug, Clone)]
pub struct LinkSender {
    tx: mpsc::Sender<OutFrame>,
}

impl LinkSender {
    /// Queues a frame, waiting for room.
    pub async fn send(&self, frame: OutFrame) -> Result<(), LinkClosed> {
        // The uncontended case needs no future state machine.
        match self.tx.try_send(frame) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(frame)) => self
                .tx
                .send(frame)
                .await
                .map_err(|mpsc::error::SendError(frame)| LinkClosed(frame)),
            Err(mpsc::error::TrySendError::Closed(frame)) => Err(LinkClosed(frame)),
        }
    }

    /// Queues a frame if there is room now.
    // The error hands the frame back by value; boxing it would allocate on the hot path.
    #[allow(clippy::result_large_err)]
    pub fn try_send(&self, frame: OutFrame) -> Result<(), TrySendError> {
        self.tx.try_send(frame).map_err(|e| match e {
            mpsc::error::TrySendError::Full(f) => TrySendError::Full(f),
            mpsc::error::TrySendError::Closed(f) => TrySendError::Closed(f),
        })
    }

    /// True once the writer is gone.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Frames currently queued (for metrics and tests).
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Completes when the writer is gone.
    pub async fn closed(&self) {
        self.tx.closed().await;
    }
}

/// The consuming end of a link queue, as the stream writer reads it.
#[derive(Debug)]
pub struct OutboundStream {
    rx: mpsc::Receiver<OutFrame>,
    /// Frames taken out of the queue, in reverse order so `pop` yields the oldest.
    batch: Vec<OutFrame>,
}

impl OutboundStream {
    /// Stops accepting frames; queued ones are still yielded.
    pub fn close(&mut self) {
        self.rx.close();
    }
}

impl Stream for OutboundStream {
    type Item = OutFrame;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<OutFrame>> {
        let this = self.get_mut();
        if let Some(frame) = this.batch.pop() {
            return Poll::Ready(Some(frame));
        }
        match this.rx.poll_recv_many(cx, &mut this.batch, DRAIN_BATCH) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(0) => Poll::Ready(None),
            Poll::Ready(_) => {
                this.batch.reverse();
                Poll::Ready(this.batch.pop())
            }
        }
    }
}

/// The frames a link's stream writer sends (items are `Result`s), with an optional final
/// status.
///
/// A server answers `OpenChannel` with response headers at once and negotiates afterwards on
/// the open streams (upstream clients wait for the headers before they send their request).
/// A failed negotiation therefore cannot be a response error any more: it ends the stream
/// with a trailing gRPC status instead, which the stream writer sends as trailers.
#[derive(Debug)]
pub struct StreamOutbound {
    frames: OutboundStream,
    /// Set before the last sender is dropped when the stream must end with an error.
    failure: Option<tokio::sync::oneshot::Receiver<tonic::Status>>,
}

impl StreamOutbound {
    /// Yields `frames`, then the status sent on `failure`, if any.
    pub fn new(
        frames: OutboundStream,
        failure: tokio::sync::oneshot::Receiver<tonic::Status>,
    ) -> Self {
        StreamOutbound {
            frames,
            failure: Some(failure),
        }
    }

    /// Yields `frames` and ends cleanly (a dialed link's request: the client has no status
    /// to send).
    pub fn plain(frames: OutboundStream) -> Self {
        StreamOutbound {
            frames,
            failure: None,
        }
    }
}

impl Stream for StreamOutbound {
    type Item = Result<OutFrame, tonic::Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        match Pin::new(&mut this.frames).poll_next(cx) {
            Poll::Ready(Some(frame)) => Poll::Ready(Some(Ok(frame))),
            Poll::Pending => Poll::Pending,
            // The status is sent before the last sender goes away, so it is here if any.
            Poll::Ready(None) => Poll::Ready(
                this.failure
                    .take()
                    .and_then(|mut failure| failure.try_recv().ok())
                    .map(Err),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slim_wire::{Frame, builders};
    use tokio_stream::StreamExt;

    fn ack(id: u64) -> OutFrame {
        OutFrame::as_is(Frame::from_message(&builders::subscription_ack(id, None)).unwrap())
    }

    #[tokio::test]
    async fn frames_come_out_in_order_and_the_queue_is_bounded() {
        let (tx, mut rx) = bounded(4);
        for id in 0..4 {
            tx.try_send(ack(id)).unwrap();
        }
        assert!(matches!(tx.try_send(ack(9)), Err(TrySendError::Full(_))));
        assert_eq!(tx.queued(), 4);
        for id in 0..4 {
            assert_eq!(rx.next().await.unwrap().frame.subscription_id(), id);
        }
        drop(tx);
        assert!(rx.next().await.is_none());
    }

    #[tokio::test]
    async fn a_full_queue_makes_send_wait_until_the_writer_drains() {
        let (tx, mut rx) = bounded(1);
        tx.send(ack(1)).await.unwrap();
        let sender = tx.clone();
        let blocked = tokio::spawn(async move { sender.send(ack(2)).await });
        tokio::task::yield_now().await;
        assert!(!blocked.is_finished());
        assert_eq!(rx.next().await.unwrap().frame.subscription_id(), 1);
        blocked.await.unwrap().unwrap();
        assert_eq!(rx.next().await.unwrap().frame.subscription_id(), 2);
    }

    #[tokio::test]
    async fn send_fails_once_the_writer_is_gone() {
        let (tx, rx) = bounded(1);
        drop(rx);
        assert!(tx.is_closed());
        assert!(tx.send(ack(1)).await.is_err());
    }
}
