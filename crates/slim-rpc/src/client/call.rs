//! The caller's side of one call: [`CallGuard`] (cancels the call on the wire when dropped
//! early) and [`RequestSink`] (the request stream of a client-streaming or bidirectional
//! call).

use std::sync::Arc;

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use crate::client::link::Link;
use crate::codec::EncodeFn;
use crate::status::Status;
use crate::wire::{self, CallHeader};

/// Owns a call's registration on its link. Dropped before the call ended, it tells the
/// server (a terminal request frame with code CANCELLED, or DEADLINE_EXCEEDED when the
/// deadline is what ended it) so the server stops the handler.
#[derive(Debug)]
pub(crate) struct CallGuard {
    link: Arc<Link>,
    rpc_id: Arc<str>,
    deadline: tokio::time::Instant,
    /// Cancelled when the call is over, for whatever reason (stops a request forwarder).
    over: CancellationToken,
    active: bool,
}

impl CallGuard {
    pub fn new(link: Arc<Link>, rpc_id: Arc<str>, deadline: tokio::time::Instant) -> Self {
        CallGuard {
            link,
            rpc_id,
            deadline,
            over: CancellationToken::new(),
            active: true,
        }
    }

    pub fn link(&self) -> &Arc<Link> {
        &self.link
    }

    pub fn rpc_id(&self) -> &Arc<str> {
        &self.rpc_id
    }

    /// Cancelled once the call is over.
    pub fn over(&self) -> CancellationToken {
        self.over.clone()
    }

    /// The call ended normally (the server sent its end): just forget it.
    pub fn finish(&mut self) {
        if self.active {
            self.active = false;
            self.link.unregister(&self.rpc_id);
            self.over.cancel();
        }
    }

    /// The caller gives up: forget the call and tell the server why.
    pub fn cancel(&mut self, status: Status) {
        if !self.active {
            return;
        }
        self.finish();
        let frame = wire::request_cancel(&self.rpc_id, &status);
        let link = self.link.clone();
        // Sending waits for room in the session's queue; never block a drop on it.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = link.send(frame).await;
            });
        }
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        if self.active {
            let status = if tokio::time::Instant::now() >= self.deadline {
                Status::deadline_exceeded("the caller's deadline passed")
            } else {
                Status::cancelled("cancelled by the caller")
            };
            self.cancel(status);
        }
    }
}

/// The request stream of a client-streaming or bidirectional call.
///
/// Items go out in order; [`RequestSink::close`] ends the stream (so does dropping the sink,
/// like dropping the sender of a channel). Sending waits while the session's publish queue
/// is full, which is how a fast producer is held back.
pub struct RequestSink<T> {
    link: Arc<Link>,
    rpc_id: Arc<str>,
    /// The call's header, sent with the first frame.
    header: Option<CallHeader>,
    encode: EncodeFn<T>,
    over: CancellationToken,
    closed: bool,
}

impl<T> std::fmt::Debug for RequestSink<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestSink")
            .field("rpc_id", &self.rpc_id)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl<T> RequestSink<T> {
    pub(crate) fn new(guard: &CallGuard, header: CallHeader, encode: EncodeFn<T>) -> Self {
        RequestSink {
            link: guard.link().clone(),
            rpc_id: guard.rpc_id().clone(),
            header: Some(header),
            encode,
            over: guard.over(),
            closed: false,
        }
    }

    /// Sends one request message. Fails once the call is over (the server answered or
    /// failed, or the caller cancelled) or the stream was closed.
    pub async fn send(&mut self, item: T) -> Result<(), Status> {
        if self.closed || self.over.is_cancelled() {
            return Err(Status::failed_precondition("the request stream is closed"));
        }
        let blob = (self.encode)(&item)?;
        self.send_bytes(blob).await
    }

    async fn send_bytes(&mut self, blob: Bytes) -> Result<(), Status> {
        let frame = wire::request_data(&self.rpc_id, blob, self.header.as_ref());
        self.header = None;
        self.link.send(frame).await
    }

    /// Ends the request stream (the server sees its end).
    pub async fn close(mut self) -> Result<(), Status> {
        self.closed = true;
        if self.over.is_cancelled() {
            return Ok(());
        }
        let frame = wire::request_end(&self.rpc_id, self.header.take().as_ref());
        self.link.send(frame).await
    }

    /// True once the call is over: further sends fail.
    pub fn is_closed(&self) -> bool {
        self.closed || self.over.is_cancelled()
    }

    /// Resolves when the call is over (the response ended, failed or was cancelled); a
    /// producer can stop early.
    pub async fn call_over(&self) {
        self.over.cancelled().await
    }
}

impl<T> Drop for RequestSink<T> {
    fn drop(&mut self) {
        if self.closed || self.over.is_cancelled() {
            return;
        }
        let frame = wire::request_end(&self.rpc_id, self.header.take().as_ref());
        let link = self.link.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = link.send(frame).await;
            });
        }
    }
}
