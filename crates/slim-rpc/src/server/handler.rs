//! Handlers as the server stores them: one boxed function per method and pattern, working
//! on payload bytes. The typed constructors wrap a user's function with its codec, so a
//! request that does not decode is answered with `INVALID_ARGUMENT` before the user's code
//! runs.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::client::link::Received;
use crate::codec::Codec;
use crate::server::context::Context;
use crate::server::sink::ResponseSink;
use crate::status::Status;
use crate::streaming::Streaming;

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

type UnaryFn = dyn Fn(Bytes, Context) -> BoxFuture<Result<Bytes, Status>> + Send + Sync;
type ServerStreamingFn =
    dyn Fn(Bytes, Context, ResponseSink<Bytes>) -> BoxFuture<Result<(), Status>> + Send + Sync;
type ClientStreamingFn =
    dyn Fn(mpsc::Receiver<Received>, Context) -> BoxFuture<Result<Bytes, Status>> + Send + Sync;
type StreamingFn = dyn Fn(mpsc::Receiver<Received>, Context, ResponseSink<Bytes>) -> BoxFuture<Result<(), Status>>
    + Send
    + Sync;

/// One method's handler.
#[derive(Clone)]
pub(crate) enum Handler {
    Unary(Arc<UnaryFn>),
    ServerStreaming(Arc<ServerStreamingFn>),
    ClientStreaming(Arc<ClientStreamingFn>),
    Streaming(Arc<StreamingFn>),
}

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Handler::Unary(_) => "Unary",
            Handler::ServerStreaming(_) => "ServerStreaming",
            Handler::ClientStreaming(_) => "ClientStreaming",
            Handler::Streaming(_) => "Streaming",
        })
    }
}

impl Handler {
    /// True for the patterns whose caller sends a stream.
    pub fn streams_requests(&self) -> bool {
        matches!(self, Handler::ClientStreaming(_) | Handler::Streaming(_))
    }

    /// True for the patterns with one response (the ones idempotency keys apply to).
    pub fn single_response(&self) -> bool {
        matches!(self, Handler::Unary(_) | Handler::ClientStreaming(_))
    }

    pub fn unary<C, F, Fut>(handler: F) -> Handler
    where
        C: Codec,
        F: Fn(C::Decode, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<C::Encode, Status>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        Handler::Unary(Arc::new(move |blob, context| {
            let handler = handler.clone();
            Box::pin(async move {
                let request = C::decode(blob).map_err(bad_request)?;
                let response = handler(request, context).await?;
                C::encode(&response)
            })
        }))
    }

    pub fn server_streaming<C, F, Fut>(handler: F) -> Handler
    where
        C: Codec,
        F: Fn(C::Decode, Context, ResponseSink<C::Encode>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Status>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        Handler::ServerStreaming(Arc::new(move |blob, context, raw: ResponseSink<Bytes>| {
            let handler = handler.clone();
            Box::pin(async move {
                let request = C::decode(blob).map_err(bad_request)?;
                handler(request, context, raw.retype(C::encode)).await
            })
        }))
    }

    pub fn client_streaming<C, F, Fut>(handler: F) -> Handler
    where
        C: Codec,
        F: Fn(Streaming<C::Decode>, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<C::Encode, Status>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        Handler::ClientStreaming(Arc::new(move |rx, context| {
            let handler = handler.clone();
            Box::pin(async move {
                let requests = Streaming::for_handler(rx, decode_request::<C>);
                let response = handler(requests, context).await?;
                C::encode(&response)
            })
        }))
    }

    pub fn streaming<C, F, Fut>(handler: F) -> Handler
    where
        C: Codec,
        F: Fn(Streaming<C::Decode>, Context, ResponseSink<C::Encode>) -> Fut
            + Send
            + Sync
            + 'static,
        Fut: Future<Output = Result<(), Status>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        Handler::Streaming(Arc::new(move |rx, context, raw: ResponseSink<Bytes>| {
            let handler = handler.clone();
            Box::pin(async move {
                let requests = Streaming::for_handler(rx, decode_request::<C>);
                handler(requests, context, raw.retype(C::encode)).await
            })
        }))
    }
}

fn bad_request(status: Status) -> Status {
    Status::invalid_argument(format!("request: {}", status.message()))
}

fn decode_request<C: Codec>(blob: Bytes) -> Result<C::Decode, Status> {
    C::decode(blob).map_err(bad_request)
}
