//! [`Link`]: one session a channel's calls share, and the task that hands each received
//! frame to the call it belongs to (by `rpc-id`).
//!
//! The reader task owns a clone of the session and reads it in batches. Frames of a call
//! go to that call's bounded queue; when the queue is full the reader waits, which holds the
//! whole session back (the session stops acknowledging, the server's sends wait): memory
//! stays bounded, at the price that a caller who stops reading a stream stalls the other
//! calls of its channel. Frames for calls nobody waits for any more (finished, cancelled)
//! are dropped.
//!
//! When the session ends, every call still registered gets an `UNAVAILABLE` end and the
//! link is marked dead; the channel opens a new one for the next call. When the last handle
//! to a link goes, the reader stops and the session closes gracefully.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use slim_client::{Name, Payload, Session, SessionError};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::frames::FrameReader;
use crate::status::Status;
use crate::wire::{FrameKind, Inbound};

/// One received frame, with who sent it (group calls attribute replies by sender).
#[derive(Debug)]
pub(crate) struct Received {
    pub source: Name,
    pub kind: FrameKind,
}

/// The calls waiting for frames on one session.
#[derive(Debug, Default)]
struct CallTable {
    calls: HashMap<Arc<str>, Registration>,
    /// Set when the session ended: why, and no more registrations.
    closed: Option<Status>,
}

#[derive(Debug)]
struct Registration {
    tx: mpsc::Sender<Received>,
    /// A single responder: the call is over after its first end frame.
    single: bool,
}

/// A session shared by many calls.
#[derive(Debug)]
pub(crate) struct Link {
    session: Session,
    table: Arc<Mutex<CallTable>>,
    dead: Arc<AtomicBool>,
    /// Cancelled when the link is dropped: stops the reader.
    stop: CancellationToken,
    max_calls: usize,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Link {
    /// Wraps an established session and starts its reader.
    pub fn start(session: Session, max_calls: usize) -> Arc<Link> {
        let table = Arc::new(Mutex::new(CallTable::default()));
        let dead = Arc::new(AtomicBool::new(false));
        let stop = CancellationToken::new();
        tokio::spawn(read(
            session.clone(),
            table.clone(),
            dead.clone(),
            stop.clone(),
        ));
        Arc::new(Link {
            session,
            table,
            dead,
            stop,
            max_calls,
        })
    }

    /// False once the session ended; the channel then opens another.
    pub fn is_alive(&self) -> bool {
        !self.dead.load(Ordering::Acquire) && !self.session.is_closed()
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Registers a call; its frames arrive on the returned queue.
    pub fn register(
        &self,
        rpc_id: Arc<str>,
        capacity: usize,
        single: bool,
    ) -> Result<mpsc::Receiver<Received>, Status> {
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(status) = &table.closed {
            return Err(status.clone());
        }
        if table.calls.len() >= self.max_calls {
            return Err(Status::resource_exhausted(format!(
                "too many calls in flight on this channel (limit {})",
                self.max_calls
            )));
        }
        let (tx, rx) = mpsc::channel(capacity.max(1));
        table.calls.insert(rpc_id, Registration { tx, single });
        Ok(rx)
    }

    /// Forgets a call: its later frames are dropped.
    pub fn unregister(&self, rpc_id: &str) {
        self.table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .calls
            .remove(rpc_id);
    }

    /// Sends a frame without waiting for its acknowledgement.
    pub async fn send(&self, frame: Payload) -> Result<(), Status> {
        self.session
            .publish_detached(frame)
            .await
            .map_err(unavailable)
    }

    /// Sends a frame and returns what resolves once it is acknowledged.
    pub async fn send_tracked(&self, frame: Payload) -> Result<slim_client::Completion, Status> {
        self.session.publish(frame).await.map_err(unavailable)
    }
}

/// How a session failure reads to a caller.
pub(crate) fn unavailable(error: SessionError) -> Status {
    Status::unavailable(format!("session: {error}"))
}

/// The reader task.
async fn read(
    session: Session,
    table: Arc<Mutex<CallTable>>,
    dead: Arc<AtomicBool>,
    stop: CancellationToken,
) {
    let mut frames = FrameReader::new(session.clone());
    while let Some(frame) = frames.next(&stop).await {
        if frame.request {
            // Another caller's request echoed by a group session.
            continue;
        }
        // Most frames find room in their call's queue at once; only a full queue costs a
        // wait (and the watch on `stop` that goes with it).
        let Some(blocked) = dispatch(&table, frame) else {
            continue;
        };
        let stopped = tokio::select! {
            () = stop.cancelled() => true,
            () = blocked.wait(&table) => false,
        };
        if stopped {
            break;
        }
    }
    dead.store(true, Ordering::Release);
    let reason = session
        .close_reason()
        .map_or_else(|| "closed".to_owned(), |r| format!("{r:?}"));
    let calls = {
        let mut table = table.lock().unwrap_or_else(PoisonError::into_inner);
        table.closed = Some(Status::unavailable(format!("session ended: {reason}")));
        std::mem::take(&mut table.calls)
    };
    let status = Status::unavailable(format!("session ended: {reason}"));
    for (_, registration) in calls {
        let _ = registration.tx.try_send(Received {
            source: session.destination().clone(),
            kind: FrameKind::End(Err(status.clone())),
        });
    }
}

/// A frame whose call's queue was full.
struct Blocked {
    rpc_id: String,
    tx: mpsc::Sender<Received>,
    received: Received,
}

impl Blocked {
    /// Waits for room in the call's queue; forgets the call if it stopped reading.
    async fn wait(self, table: &Mutex<CallTable>) {
        if self.tx.send(self.received).await.is_err() {
            table
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .calls
                .remove(self.rpc_id.as_str());
        }
    }
}

/// Hands one frame to its call if the call's queue has room (under the table's lock: no
/// handle to clone); returns it when the queue is full.
fn dispatch(table: &Mutex<CallTable>, frame: Inbound) -> Option<Blocked> {
    let Inbound {
        rpc_id,
        kind,
        source,
        ..
    } = frame;
    let end = matches!(kind, FrameKind::End(_));
    let mut table = table.lock().unwrap_or_else(PoisonError::into_inner);
    let registration = table.calls.get(rpc_id.as_str())?; // finished or cancelled if absent
    // A single responder's end is its last frame: forget the call at once.
    let last = end && registration.single;
    let blocked = match registration.tx.try_send(Received { source, kind }) {
        Ok(()) => None,
        Err(mpsc::error::TrySendError::Full(received)) => Some((registration.tx.clone(), received)),
        Err(mpsc::error::TrySendError::Closed(_)) => {
            table.calls.remove(rpc_id.as_str());
            return None;
        }
    };
    if last {
        table.calls.remove(rpc_id.as_str());
    }
    blocked.map(|(tx, received)| Blocked {
        rpc_id,
        tx,
        received,
    })
}
