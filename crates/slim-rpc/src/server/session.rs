//! One session's reader on the server: reads the session's frames, starts a call for each
//! new `rpc-id`, and hands the call's later frames (request stream items, its end, a
//! cancellation) to it.
//!
//! Only frames with `slimrpc-dir=req` are looked at: responses and echoes in group
//! sessions, and upstream's redundant second end-of-stream, are skipped. A frame for an
//! unknown call that is not a call's first frame (no `service`/`method`) is dropped, and the
//! ids of finished calls are remembered (bounded) so a late frame cannot start a call again.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use slim_client::Session;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::client::link::Received;
use crate::frames::FrameReader;
use crate::server::Shared;
use crate::server::call;
use crate::wire::{FrameKind, Inbound};

/// A running call, as its session's reader knows it.
#[derive(Debug)]
pub(super) struct Active {
    /// Where the call's request stream goes; `None` once it ended (or for single-request
    /// patterns).
    pub requests: Option<mpsc::Sender<Received>>,
    /// The attempt's cancellation.
    pub cancel: CancellationToken,
    /// An idempotent execution fed by this attempt's request stream: cancelled if that
    /// stream is cut off before its end.
    pub execution: Option<CancellationToken>,
}

/// The calls of one session.
#[derive(Debug)]
pub(super) struct Calls {
    pub active: HashMap<Arc<str>, Active>,
    finished: VecDeque<Arc<str>>,
    finished_set: HashSet<Arc<str>>,
    finished_limit: usize,
}

impl Calls {
    fn new(finished_limit: usize) -> Self {
        Calls {
            active: HashMap::new(),
            finished: VecDeque::new(),
            finished_set: HashSet::new(),
            finished_limit: finished_limit.max(1),
        }
    }

    /// The call is over: forget it, and remember that it was.
    pub fn finish(&mut self, rpc_id: &Arc<str>) {
        self.active.remove(rpc_id);
        if self.finished_set.insert(rpc_id.clone()) {
            self.finished.push_back(rpc_id.clone());
            while self.finished.len() > self.finished_limit {
                if let Some(old) = self.finished.pop_front() {
                    self.finished_set.remove(&old);
                }
            }
        }
    }
}

/// What a session's calls share.
#[derive(Clone, Debug)]
pub(super) struct SessionScope {
    pub session: Session,
    pub shared: Arc<Shared>,
    pub calls: Arc<Mutex<Calls>>,
    /// Cancelled when the session's reader ends: its calls have nobody left to answer.
    pub stop: CancellationToken,
}

impl SessionScope {
    pub fn calls(&self) -> std::sync::MutexGuard<'_, Calls> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Serves one session until it ends or the server stops.
pub(super) async fn serve_session(session: Session, shared: Arc<Shared>) {
    let scope = SessionScope {
        calls: Arc::new(Mutex::new(Calls::new(shared.config.finished_memory))),
        stop: shared.stop.child_token(),
        session: session.clone(),
        shared: shared.clone(),
    };
    let mut frames = FrameReader::new(session);
    while let Some(frame) = frames.next(&shared.stop).await {
        if frame.request {
            on_request_frame(&scope, frame).await;
        }
    }
    scope.stop.cancel();
}

/// What to do with a frame, decided under the lock and done after it.
enum Action {
    Nothing,
    Forward(mpsc::Sender<Received>, Received),
    Start,
}

async fn on_request_frame(scope: &SessionScope, frame: Inbound) {
    let action = {
        let mut guard = scope.calls();
        let calls = &mut *guard;
        match calls.active.get_mut(frame.rpc_id.as_str()) {
            Some(active) => continue_call(active, &frame),
            None if calls.finished_set.contains(frame.rpc_id.as_str()) => Action::Nothing,
            None => Action::Start,
        }
    };
    match action {
        Action::Nothing => {}
        Action::Forward(tx, received) => {
            // Waits while the handler's queue is full; fails only if the handler stopped
            // reading for good (then the frame has no reader anyway).
            let _ = tx.send(received).await;
        }
        Action::Start => match frame.header() {
            Some(header) if !matches!(frame.kind, FrameKind::End(Err(_))) => {
                if let Some(call) = call::start(scope, frame, header) {
                    call::run_inline_or_spawn(call).await;
                }
            }
            // Not a first frame (a late end, a cancellation of a call we never saw).
            _ => tracing::debug!(rpc_id = %frame.rpc_id, "frame for an unknown call dropped"),
        },
    }
}

fn continue_call(active: &mut Active, frame: &Inbound) -> Action {
    match &frame.kind {
        FrameKind::Data(_) => match &active.requests {
            Some(tx) => Action::Forward(tx.clone(), received(frame)),
            None => Action::Nothing,
        },
        FrameKind::End(Ok(_)) => match active.requests.take() {
            Some(tx) => Action::Forward(tx, received(frame)),
            None => Action::Nothing,
        },
        FrameKind::End(Err(status)) => {
            tracing::debug!(rpc_id = %frame.rpc_id, %status, "call cancelled by the caller");
            active.cancel.cancel();
            if let Some(tx) = active.requests.take() {
                // The request stream was cut off: an idempotent execution it fed must not
                // complete on a partial stream.
                if let Some(execution) = &active.execution {
                    execution.cancel();
                }
                let _ = tx.try_send(received(frame));
            }
            Action::Nothing
        }
    }
}

fn received(frame: &Inbound) -> Received {
    Received {
        source: frame.source.clone(),
        kind: frame.kind.clone(),
    }
}
