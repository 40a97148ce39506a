//! [`FrameReader`]: the RPC frames of one session, read in batches.
//!
//! Both ends read a session the same way: take what arrived in one wake-up, skip messages
//! the session reports lost (their call ends by its deadline or the session's end: the
//! metadata that would name it was lost too) and messages that are not RPC frames, and stop
//! when the session ends or the reader is told to. What to do with each frame is the caller's.

use slim_client::{Delivery, Session};
use tokio_util::sync::CancellationToken;

use crate::wire::Inbound;

/// Messages taken from the session per wake-up.
const READ_BATCH: usize = 64;

/// Yields the RPC frames of a session, one at a time.
pub(crate) struct FrameReader {
    session: Session,
    /// What the last wake-up received, in reverse order (popped from the end).
    batch: Vec<Delivery>,
}

impl FrameReader {
    pub(crate) fn new(session: Session) -> Self {
        Self {
            session,
            batch: Vec::with_capacity(READ_BATCH),
        }
    }

    /// The next RPC frame; `None` once the session ended or `stop` was cancelled.
    pub(crate) async fn next(&mut self, stop: &CancellationToken) -> Option<Inbound> {
        loop {
            while let Some(delivery) = self.batch.pop() {
                match delivery {
                    Ok(message) => {
                        if let Some(frame) = Inbound::parse(message) {
                            return Some(frame);
                        }
                    }
                    Err(lost) => tracing::warn!(%lost, "RPC frame lost"),
                }
            }
            let count = tokio::select! {
                () = stop.cancelled() => return None,
                count = self.session.recv_many(&mut self.batch, READ_BATCH) => count,
            };
            if count == 0 {
                return None;
            }
            self.batch.reverse();
        }
    }
}
