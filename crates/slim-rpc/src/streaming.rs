//! [`Streaming`]: a stream of messages of one call — the responses a caller receives, or the
//! requests a handler receives.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use tokio::sync::mpsc;
use tokio::time::Sleep;

use crate::client::call::CallGuard;
use crate::client::link::Received;
use crate::codec::DecodeFn;
use crate::status::Status;
use crate::wire::FrameKind;

/// Which side reads the stream: decides how a bad message and a silent end read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    /// A caller reading responses: the call is cancelled on the wire if the stream is dropped
    /// early, and its deadline ends it.
    Caller,
    /// A handler reading requests.
    Handler,
}

/// The messages of one call, in order, ending with the call's status: `Ok(message)` items,
/// then either the end (`None`) or one `Err(status)` and the end.
///
/// A caller's `Streaming` enforces the call's deadline (`DEADLINE_EXCEEDED`) and, dropped
/// before the end, cancels the call: the server stops its handler.
///
/// ```no_run
/// # async fn demo(mut replies: slim_rpc::Streaming<bytes::Bytes>) -> Result<(), slim_rpc::Status> {
/// while let Some(reply) = replies.message().await? {
///     println!("{reply:?}");
/// }
/// # Ok(()) }
/// ```
pub struct Streaming<T> {
    rx: mpsc::Receiver<Received>,
    decode: DecodeFn<T>,
    deadline: Option<Pin<Box<Sleep>>>,
    guard: Option<CallGuard>,
    /// The acknowledgement of the caller's request: a request the session could not
    /// deliver fails the call instead of waiting for the deadline.
    sent: Option<slim_client::Completion>,
    side: Side,
    ended: bool,
}

impl<T> std::fmt::Debug for Streaming<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streaming")
            .field("side", &self.side)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl<T> Streaming<T> {
    /// A caller's response stream.
    pub(crate) fn for_caller(
        rx: mpsc::Receiver<Received>,
        decode: DecodeFn<T>,
        guard: CallGuard,
        deadline: tokio::time::Instant,
    ) -> Self {
        Streaming {
            rx,
            decode,
            deadline: Some(Box::pin(tokio::time::sleep_until(deadline))),
            guard: Some(guard),
            sent: None,
            side: Side::Caller,
            ended: false,
        }
    }

    /// A handler's request stream.
    pub(crate) fn for_handler(rx: mpsc::Receiver<Received>, decode: DecodeFn<T>) -> Self {
        Streaming {
            rx,
            decode,
            deadline: None,
            guard: None,
            sent: None,
            side: Side::Handler,
            ended: false,
        }
    }

    /// Fails the call if this send is not acknowledged.
    pub(crate) fn watch_send(&mut self, sent: slim_client::Completion) {
        self.sent = Some(sent);
    }

    /// The next message; `Ok(None)` at the end of the stream, `Err` if the call failed.
    pub async fn message(&mut self) -> Result<Option<T>, Status> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx))
            .await
            .transpose()
    }

    /// Cancels the call (caller side; the server's handler is stopped). Does nothing on a
    /// handler's request stream or once the stream ended.
    pub fn cancel(mut self) {
        self.end_with(Some(Status::cancelled("cancelled by the caller")));
    }

    /// Reads a stream that must carry exactly one message (a unary or client-streaming
    /// response): the message, or the call's error.
    pub async fn single(mut self) -> Result<T, Status> {
        match self.message().await? {
            Some(message) => Ok(message),
            // An OK end without a message: upstream's unary encoding of an empty response.
            None => (self.decode)(Bytes::new()),
        }
    }

    fn end_with(&mut self, cancel: Option<Status>) {
        self.ended = true;
        self.deadline = None;
        if let Some(mut guard) = self.guard.take() {
            match cancel {
                Some(status) => guard.cancel(status),
                None => guard.finish(),
            }
        }
    }

    fn decoded(&mut self, blob: Bytes) -> Result<T, Status> {
        match (self.decode)(blob) {
            Ok(message) => Ok(message),
            Err(status) if self.side == Side::Caller => {
                let status = Status::internal(format!("response: {}", status.message()));
                self.end_with(Some(Status::cancelled("response did not decode")));
                Err(status)
            }
            Err(status) => Err(status),
        }
    }
}

impl<T> Stream for Streaming<T> {
    type Item = Result<T, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        if let Some(deadline) = this.deadline.as_mut()
            && deadline.as_mut().poll(cx).is_ready()
        {
            let status = Status::deadline_exceeded("the call's deadline passed");
            this.end_with(Some(status.clone()));
            return Poll::Ready(Some(Err(status)));
        }
        if let Some(sent) = this.sent.as_mut()
            && let Poll::Ready(result) = Pin::new(sent).poll(cx)
        {
            this.sent = None;
            if let Err(error) = result {
                let status = crate::client::link::unavailable(error);
                this.end_with(Some(Status::cancelled("the request was not delivered")));
                return Poll::Ready(Some(Err(status)));
            }
        }
        let received = match this.rx.poll_recv(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(received) => received,
        };
        let item = match received.map(|r| r.kind) {
            Some(FrameKind::Data(blob)) => Some(this.decoded(blob)),
            Some(FrameKind::End(Ok(blob))) => {
                this.end_with(None);
                // Old upstream servers put a unary response in the end frame.
                (!blob.is_empty()).then(|| this.decoded(blob))
            }
            Some(FrameKind::End(Err(status))) => {
                this.end_with(None);
                Some(Err(status))
            }
            None => {
                this.end_with(None);
                Some(Err(match this.side {
                    Side::Caller => Status::unavailable("the call ended without a status"),
                    Side::Handler => Status::cancelled("the call was cancelled"),
                }))
            }
        };
        Poll::Ready(item)
    }
}
