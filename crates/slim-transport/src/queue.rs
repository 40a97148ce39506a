//! The bounded outbound queue of one link.
//!
//! Producers (the node's receive loops, an application's publish calls) put [`OutFrame`]s in
//! with [`LinkSender::send`], which waits for room: a link that cannot keep up slows down
//! whoever feeds it instead of growing memory. The link's writer drains the queue through
//! [`OutboundStream`], which takes everything queued in one go, so a burst costs one wake-up
//! and the connection task encodes it into one buffer and one write.
//!
//! A node forwarding a batch of frames puts each link's share in at once
//! ([`LinkSender::send_many`]): the room is taken for all of them with one operation and they
//! travel as one item. Queueing frames one by one cost a few atomic operations each (the
//! room, the slot, the writer's waker): in a fan-out, about a tenth of the node's time.
//!
//! Memory bound: `capacity` frames in the queue plus what the writer took out, at most
//! [`DRAIN_BATCH`] frames and one batch (itself at most `capacity` frames), each at most the
//! link's frame-size limit.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::{Semaphore, TryAcquireError, mpsc};
use tokio_stream::Stream;

use crate::codec::OutFrame;

/// Frames the writer takes out of the queue at once, at least (whole batches are taken).
pub const DRAIN_BATCH: usize = 256;

/// Creates a link queue holding at most `capacity` frames (at least 1).
pub fn bounded(capacity: usize) -> (LinkSender, OutboundStream) {
    let capacity = capacity.clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
    let (tx, rx) = mpsc::unbounded_channel();
    let room = Arc::new(Semaphore::new(capacity));
    (
        LinkSender {
            tx,
            room: room.clone(),
            capacity,
        },
        OutboundStream {
            rx,
            room,
            batches: Vec::new(),
            frames: Vec::with_capacity(DRAIN_BATCH),
        },
    )
}

/// What travels through the queue: one frame, or a producer's batch in order.
#[derive(Debug)]
enum Batch {
    One(OutFrame),
    Many(Vec<OutFrame>),
}

impl Batch {
    fn len(&self) -> usize {
        match self {
            Batch::One(_) => 1,
            Batch::Many(frames) => frames.len(),
        }
    }
}

/// The link has closed; the frame was not queued (and is dropped: nothing can send it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("link closed")]
pub struct LinkClosed;

/// The link closed before these many frames of a batch were queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("link closed: {0} frames not queued")]
pub struct BatchNotQueued(pub usize);

/// Why [`LinkSender::try_send`] did not queue a frame.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TrySendError {
    /// The queue is full; the frame is handed back.
    #[error("link queue full")]
    Full(OutFrame),
    /// The link has closed (the frame is dropped: nothing can send it).
    #[error("link closed")]
    Closed,
}

/// The producing end of a link queue. Cheap to clone.
#[derive(Debug, Clone)]
pub struct LinkSender {
    tx: mpsc::UnboundedSender<Batch>,
    /// Free places, in frames; closed with the queue.
    room: Arc<Semaphore>,
    capacity: usize,
}

impl LinkSender {
    /// Queues a frame, waiting for room.
    pub async fn send(&self, frame: OutFrame) -> Result<(), LinkClosed> {
        // The uncontended case needs no future state machine.
        match self.room.try_acquire() {
            Ok(permit) => permit.forget(),
            Err(TryAcquireError::Closed) => return Err(LinkClosed),
            Err(TryAcquireError::NoPermits) => match self.room.acquire().await {
                Ok(permit) => permit.forget(),
                Err(_) => return Err(LinkClosed),
            },
        }
        self.tx.send(Batch::One(frame)).map_err(|_| LinkClosed)
    }

    /// Queues `frames`, in order, waiting for room; a batch larger than the queue goes in
    /// parts. On error, says how many frames were not queued.
    pub async fn send_many(&self, mut frames: Vec<OutFrame>) -> Result<(), BatchNotQueued> {
        while !frames.is_empty() {
            let count = frames.len().min(self.capacity);
            let part = if count == frames.len() {
                std::mem::take(&mut frames)
            } else {
                frames.drain(..count).collect()
            };
            // `count` is at most the capacity, which `bounded` keeps within u32.
            let permits = u32::try_from(count).unwrap_or(u32::MAX);
            let acquired = match self.room.try_acquire_many(permits) {
                Ok(permit) => Ok(permit),
                Err(TryAcquireError::Closed) => Err(()),
                Err(TryAcquireError::NoPermits) => {
                    self.room.acquire_many(permits).await.map_err(|_| ())
                }
            };
            match acquired {
                Ok(permit) => permit.forget(),
                Err(()) => return Err(BatchNotQueued(count + frames.len())),
            }
            if self.tx.send(Batch::Many(part)).is_err() {
                return Err(BatchNotQueued(count + frames.len()));
            }
        }
        Ok(())
    }

    /// Queues a frame if there is room now.
    // The error hands the frame back by value; boxing it would allocate on the hot path.
    #[allow(clippy::result_large_err)]
    pub fn try_send(&self, frame: OutFrame) -> Result<(), TrySendError> {
        match self.room.try_acquire() {
            Ok(permit) => permit.forget(),
            Err(TryAcquireError::NoPermits) => return Err(TrySendError::Full(frame)),
            Err(TryAcquireError::Closed) => return Err(TrySendError::Closed),
        }
        self.tx
            .send(Batch::One(frame))
            .map_err(|_| TrySendError::Closed)
    }

    /// True once the writer is gone.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Frames currently queued (for metrics and tests).
    pub fn queued(&self) -> usize {
        self.capacity.saturating_sub(self.room.available_permits())
    }

    /// Completes when the writer is gone.
    pub async fn closed(&self) {
        self.tx.closed().await;
    }
}

/// The consuming end of a link queue, as the stream writer reads it.
#[derive(Debug)]
pub struct OutboundStream {
    rx: mpsc::UnboundedReceiver<Batch>,
    room: Arc<Semaphore>,
    /// Batches just taken out of the channel (kept for its capacity).
    batches: Vec<Batch>,
    /// Frames taken out of the queue, in reverse order so `pop` yields the oldest.
    frames: Vec<OutFrame>,
}

impl OutboundStream {
    /// Stops accepting frames; queued ones are still yielded.
    pub fn close(&mut self) {
        self.rx.close();
        // Producers waiting for room give up.
        self.room.close();
    }
}

impl Drop for OutboundStream {
    fn drop(&mut self) {
        self.room.close();
    }
}

impl Stream for OutboundStream {
    type Item = OutFrame;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<OutFrame>> {
        let this = self.get_mut();
        if let Some(frame) = this.frames.pop() {
            return Poll::Ready(Some(frame));
        }
        let mut taken = 0;
        while taken < DRAIN_BATCH {
            let pulled = match this.rx.poll_recv_many(cx, &mut this.batches, DRAIN_BATCH) {
                Poll::Ready(0) if taken == 0 => return Poll::Ready(None),
                Poll::Pending if taken == 0 => return Poll::Pending,
                Poll::Ready(0) | Poll::Pending => break,
                Poll::Ready(count) => count,
            };
            for batch in this.batches.drain(..pulled) {
                taken += batch.len();
                match batch {
                    Batch::One(frame) => this.frames.push(frame),
                    Batch::Many(frames) => this.frames.extend(frames),
                }
            }
        }
        // Out of the queue: their places are free for producers again.
        this.room.add_permits(taken);
        this.frames.reverse();
        Poll::Ready(this.frames.pop())
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
    async fn batches_keep_their_order_among_single_frames_and_count_as_their_frames() {
        let (tx, mut rx) = bounded(4);
        tx.send(ack(0)).await.unwrap();
        tx.send_many(vec![ack(1), ack(2), ack(3)]).await.unwrap();
        assert_eq!(tx.queued(), 4);
        assert!(matches!(tx.try_send(ack(9)), Err(TrySendError::Full(_))));
        for id in 0..4 {
            assert_eq!(rx.next().await.unwrap().frame.subscription_id(), id);
        }
        assert_eq!(tx.queued(), 0, "taken out: room again");
        // Larger than the queue: goes in parts as the writer drains.
        let sender = tx.clone();
        let big = tokio::spawn(async move { sender.send_many((10..20).map(ack).collect()).await });
        for id in 10..20 {
            assert_eq!(rx.next().await.unwrap().frame.subscription_id(), id);
        }
        big.await.unwrap().unwrap();
        assert!(tx.queued() <= 4);
    }

    #[tokio::test]
    async fn producers_waiting_for_room_give_up_when_the_writer_goes() {
        let (tx, rx) = bounded(2);
        tx.send_many(vec![ack(1), ack(2)]).await.unwrap();
        let one = tokio::spawn({
            let tx = tx.clone();
            async move { tx.send(ack(3)).await }
        });
        let many = tokio::spawn({
            let tx = tx.clone();
            async move { tx.send_many(vec![ack(4), ack(5), ack(6)]).await }
        });
        tokio::task::yield_now().await;
        drop(rx);
        let limit = std::time::Duration::from_secs(10);
        let one = tokio::time::timeout(limit, one).await.unwrap().unwrap();
        assert_eq!(one, Err(LinkClosed));
        let many = tokio::time::timeout(limit, many).await.unwrap().unwrap();
        assert_eq!(many, Err(BatchNotQueued(3)));
        assert!(matches!(tx.try_send(ack(7)), Err(TrySendError::Closed)));
    }

    #[tokio::test]
    async fn send_fails_once_the_writer_is_gone() {
        let (tx, rx) = bounded(1);
        drop(rx);
        assert!(tx.is_closed());
        assert!(tx.send(ack(1)).await.is_err());
    }
}
