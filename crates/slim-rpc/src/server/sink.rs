//! How a call's responses reach its caller: [`Responder`] (frames on the session) and
//! [`ResponseSink`] (what a streaming handler sends its messages with).

use std::sync::Arc;

use bytes::Bytes;
use slim_client::{Name, Payload, Session};
use tokio_util::sync::CancellationToken;

use crate::codec::EncodeFn;
use crate::status::Status;
use crate::wire;

/// Sends the frames of one call to its caller: to the peer of a point-to-point session, or
/// to the caller alone in a group session (the other members never see them).
#[derive(Clone, Debug)]
pub(crate) struct Responder {
    session: Session,
    /// The caller, in a group session.
    to: Option<Name>,
    rpc_id: Arc<str>,
}

impl Responder {
    pub fn new(session: Session, caller: &Name, rpc_id: Arc<str>) -> Self {
        let to = (session.kind() == slim_client::SessionKind::Group).then(|| caller.clone());
        Responder {
            session,
            to,
            rpc_id,
        }
    }

    async fn send(&self, frame: Payload) -> Result<(), Status> {
        let sent = match &self.to {
            Some(to) => self.session.publish_to(to, frame).await.map(drop),
            None => self.session.publish_detached(frame).await,
        };
        sent.map_err(crate::client::link::unavailable)
    }

    /// One response message.
    pub async fn data(&self, blob: Bytes) -> Result<(), Status> {
        self.send(wire::response_data(&self.rpc_id, blob)).await
    }

    /// The end of the response: OK (with the single response, or empty after a stream) or
    /// the error.
    pub async fn end(&self, result: &Result<Bytes, Status>) -> Result<(), Status> {
        self.send(wire::response_end(&self.rpc_id, result)).await
    }
}

/// Where a server-streaming or bidirectional handler sends its responses, in order.
///
/// Sending waits while the session's publish queue is full (the caller reads slower than the
/// handler produces). It fails once the call is cancelled; the handler should then return.
pub struct ResponseSink<T> {
    responder: Responder,
    encode: EncodeFn<T>,
    cancel: CancellationToken,
}

impl<T> std::fmt::Debug for ResponseSink<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseSink")
            .field("rpc_id", &self.responder.rpc_id)
            .finish_non_exhaustive()
    }
}

impl<T> ResponseSink<T> {
    pub(crate) fn new(
        responder: Responder,
        encode: EncodeFn<T>,
        cancel: CancellationToken,
    ) -> Self {
        ResponseSink {
            responder,
            encode,
            cancel,
        }
    }

    /// Sends one response message.
    pub async fn send(&mut self, item: T) -> Result<(), Status> {
        if self.cancel.is_cancelled() {
            return Err(Status::cancelled("the call was cancelled"));
        }
        let blob = (self.encode)(&item)?;
        self.responder.data(blob).await
    }

    /// True once the call was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

impl ResponseSink<Bytes> {
    /// The same sink for typed messages.
    pub(crate) fn retype<T>(self, encode: EncodeFn<T>) -> ResponseSink<T> {
        ResponseSink {
            responder: self.responder,
            encode,
            cancel: self.cancel,
        }
    }
}

/// A sink of raw payloads (generic handlers).
pub type RawSink = ResponseSink<Bytes>;
