//! The hand-over of a session's received messages from the driver to its handles: a batch
//! per fill, not a message at a time.
//!
//! The driver and the application's tasks usually run on different cores. A bounded tokio
//! channel costs a few atomic operations per message on both sides (a permit, the slot's
//! ready bit, the receiver's waker), each a cache line moved between the cores: in a fan-out
//! profile the channel was about 5 % of a receiving application's cycles. Here the driver
//! sends what it takes from the layer in one batch, and a handle pulls a batch and reads it
//! locally. The bound is kept in messages: the driver only takes as many as there is room
//! for ([`HandoverTx::room`]), counting what it sent that no handle has pulled yet.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use slim_session::Delivery;
use tokio::sync::mpsc;

/// A hand-over for at most `capacity` messages in the channel at a time.
pub(crate) fn handover(capacity: usize) -> (HandoverTx, HandoverRx) {
    let (tx, rx) = mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    (
        HandoverTx {
            tx,
            queued: queued.clone(),
            capacity: capacity.max(1),
        },
        HandoverRx {
            rx,
            queued,
            pending: VecDeque::new(),
        },
    )
}

/// The driver's side.
#[derive(Debug)]
pub(crate) struct HandoverTx {
    tx: mpsc::UnboundedSender<Vec<Delivery>>,
    /// Messages sent and not pulled by a handle yet.
    queued: Arc<AtomicUsize>,
    capacity: usize,
}

impl HandoverTx {
    /// True once every handle is gone.
    pub(crate) fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// How many more messages may be sent now.
    pub(crate) fn room(&self) -> usize {
        self.capacity
            .saturating_sub(self.queued.load(Ordering::Acquire))
    }

    /// Hands `batch` over (nothing when it is empty). Dropped when the handles are gone.
    pub(crate) fn send(&self, batch: Vec<Delivery>) {
        if batch.is_empty() {
            return;
        }
        let count = batch.len();
        // Counted before it can be pulled, so a handle never subtracts more than was added.
        self.queued.fetch_add(count, Ordering::AcqRel);
        if self.tx.send(batch).is_err() {
            self.queued.fetch_sub(count, Ordering::AcqRel);
        }
    }
}

/// The handles' side (behind their shared lock).
#[derive(Debug)]
pub(crate) struct HandoverRx {
    rx: mpsc::UnboundedReceiver<Vec<Delivery>>,
    queued: Arc<AtomicUsize>,
    /// The rest of the last batch pulled.
    pending: VecDeque<Delivery>,
}

impl HandoverRx {
    /// The next message; `None` once the driver is gone and everything was read.
    pub(crate) async fn recv(&mut self) -> Option<Delivery> {
        if self.pending.is_empty() && !self.pull().await {
            return None;
        }
        self.pending.pop_front()
    }

    /// Waits for at least one message, then moves up to `limit` to `out`; 0 once the driver
    /// is gone and everything was read.
    pub(crate) async fn recv_many(&mut self, out: &mut Vec<Delivery>, limit: usize) -> usize {
        if self.pending.is_empty() && !self.pull().await {
            return 0;
        }
        let mut moved = 0;
        while moved < limit {
            if self.pending.is_empty() && !self.try_pull() {
                break;
            }
            let take = (limit - moved).min(self.pending.len());
            out.extend(self.pending.drain(..take));
            moved += take;
        }
        moved
    }

    /// Nothing to read without waiting.
    pub(crate) fn is_empty(&self) -> bool {
        self.pending.is_empty() && self.queued.load(Ordering::Acquire) == 0
    }

    /// Messages readable without waiting.
    pub(crate) fn len(&self) -> usize {
        self.pending.len() + self.queued.load(Ordering::Acquire)
    }

    /// Waits for the next batch; false once the driver is gone.
    async fn pull(&mut self) -> bool {
        match self.rx.recv().await {
            Some(batch) => {
                self.take(batch);
                true
            }
            None => false,
        }
    }

    fn try_pull(&mut self) -> bool {
        match self.rx.try_recv() {
            Ok(batch) => {
                self.take(batch);
                true
            }
            Err(_) => false,
        }
    }

    fn take(&mut self, batch: Vec<Delivery>) {
        self.queued.fetch_sub(batch.len(), Ordering::AcqRel);
        self.pending.extend(batch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slim_session::MessageError;
    use slim_wire::Name;

    fn lost(id: u32) -> Delivery {
        Err(MessageError::Lost {
            sender: Name::new("org", "ns", "a").unwrap(),
            message_id: id,
        })
    }

    fn id(delivery: &Delivery) -> u32 {
        match delivery {
            Err(MessageError::Lost { message_id, .. }) => *message_id,
            _ => panic!("a test delivery"),
        }
    }

    #[tokio::test]
    async fn batches_are_read_in_order_and_room_counts_what_was_not_pulled() {
        let (tx, mut rx) = handover(4);
        assert_eq!(tx.room(), 4);
        tx.send(vec![lost(1), lost(2), lost(3)]);
        assert_eq!(tx.room(), 1);
        assert_eq!((rx.len(), rx.is_empty()), (3, false));
        assert_eq!(rx.recv().await.as_ref().map(id), Some(1));
        assert_eq!(tx.room(), 4, "the batch was pulled");
        assert_eq!(rx.len(), 2, "two left in the handle");
        tx.send(vec![lost(4)]);
        tx.send(Vec::new());
        let mut out = Vec::new();
        assert_eq!(rx.recv_many(&mut out, 10).await, 3, "across batches");
        assert_eq!(out.iter().map(id).collect::<Vec<_>>(), vec![2, 3, 4]);
        assert!(rx.is_empty());
        tx.send(vec![lost(5), lost(6)]);
        out.clear();
        assert_eq!(rx.recv_many(&mut out, 1).await, 1, "up to the limit");
        assert_eq!(rx.recv().await.as_ref().map(id), Some(6));
        drop(tx);
        assert!(rx.recv().await.is_none());
        assert_eq!(rx.recv_many(&mut out, 1).await, 0);
    }

    #[tokio::test]
    async fn a_closed_handover_is_seen_and_keeps_no_count() {
        let (tx, rx) = handover(2);
        drop(rx);
        assert!(tx.is_closed());
        tx.send(vec![lost(1)]);
        assert_eq!(tx.room(), 2);
    }
}
