//! [`StreamWriter`]: moves one link's outbound queue into its HTTP/2 stream (the response
//! of an accepted link, the request of a dialed one).
//!
//! It runs on the connection's task, so a frame queued by any producer reaches the socket
//! with one wake-up: this task encodes it (gRPC prefix, TTL, header MAC) into the
//! `SendStream` and the same poll flushes the connection. Frames are taken from the queue
//! only while HTTP/2 flow control lets the encoded bytes go out, so a peer that stops reading
//! leaves its frames in the bounded queue (where producers wait for room) instead of in an
//! ever-growing send buffer. When the queue closes, a server's stream ends with `grpc-status`
//! 0 (or the status a failed negotiation left), a client's with an empty END_STREAM frame.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes, BytesMut};
use tokio_stream::Stream;

use super::grpc::status_trailers;
use crate::codec::{FrameSigner, OutFrame};
use crate::queue::StreamOutbound;

/// Capacity of the buffer that gathers encoded frames before they are handed to HTTP/2:
/// large enough that a burst of small frames becomes one DATA frame and one write. Gathered
/// bytes are handed over in place (never copied into a bigger buffer), and an allocation
/// below 64 KiB is freed by glibc without consolidating its fast bins.
const GATHER_BYTES: usize = 60 * 1024;

/// How a stream ends once its queue has closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamEnd {
    /// A server's response: `grpc-status` trailers.
    Trailers,
    /// A client's request: END_STREAM.
    EndStream,
}

/// Writes one stream; completes when the stream has ended (or the peer went away).
pub(crate) struct StreamWriter {
    send: h2::SendStream<Bytes>,
    frames: StreamOutbound,
    signer: FrameSigner,
    /// Encoded bytes HTTP/2 has not accepted yet (waiting for window).
    pending: Bytes,
    buffer: BytesMut,
    /// Set once the queue has closed: the status to end with (`None`: OK).
    end: Option<Option<tonic::Status>>,
    ends_with: StreamEnd,
}

impl StreamWriter {
    pub(crate) fn new(
        send: h2::SendStream<Bytes>,
        frames: StreamOutbound,
        signer: FrameSigner,
        ends_with: StreamEnd,
    ) -> Self {
        StreamWriter {
            ends_with,
            send,
            frames,
            signer,
            pending: Bytes::new(),
            buffer: BytesMut::new(),
            end: None,
        }
    }

    /// Appends one frame to the gather buffer. When the buffer has no room left for it, the
    /// bytes gathered so far become `pending` (which is empty while gathering) and the frame
    /// starts a fresh buffer: gathered bytes are never copied into a bigger one.
    fn encode(&mut self, item: &OutFrame) {
        let tag = self.signer.tag(item);
        let len = item.frame.forwarded_len(item.ttl, tag.is_some());
        // A frame is at most the link's frame limit, which the configuration keeps far
        // below 4 GiB; saturating keeps the arithmetic total anyway.
        let prefix = u32::try_from(len).unwrap_or(u32::MAX);
        let needed = 5 + len;
        if self.buffer.capacity() - self.buffer.len() < needed {
            if !self.buffer.is_empty() {
                self.pending = self.buffer.split().freeze();
            }
            // An empty buffer reserves without copying: it takes its allocation back when
            // HTTP/2 has written and dropped every byte of it, and otherwise allocates.
            self.buffer.reserve(GATHER_BYTES.max(needed));
        }
        self.buffer.put_u8(0);
        self.buffer.put_u32(prefix);
        item.frame
            .encode_forwarded(&mut self.buffer, item.ttl, tag.as_ref());
    }

    /// Hands pending bytes to HTTP/2 as far as the window allows. `Ready(true)`: all handed
    /// over; `Ready(false)`: the stream is gone.
    fn poll_flush_pending(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        while !self.pending.is_empty() {
            self.send.reserve_capacity(self.pending.len());
            let capacity = self.send.capacity();
            if capacity == 0 {
                match self.send.poll_capacity(cx) {
                    Poll::Ready(Some(Ok(_))) => continue,
                    Poll::Ready(Some(Err(_)) | None) => return Poll::Ready(false),
                    Poll::Pending => return Poll::Pending,
                }
            }
            let chunk = self.pending.split_to(capacity.min(self.pending.len()));
            if self.send.send_data(chunk, false).is_err() {
                return Poll::Ready(false);
            }
        }
        Poll::Ready(true)
    }
}

impl Future for StreamWriter {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            match this.poll_flush_pending(cx) {
                Poll::Ready(true) => {}
                Poll::Ready(false) => return Poll::Ready(()),
                Poll::Pending => return Poll::Pending,
            }
            while this.end.is_none() && this.buffer.len() < GATHER_BYTES && this.pending.is_empty()
            {
                match Pin::new(&mut this.frames).poll_next(cx) {
                    Poll::Ready(Some(Ok(item))) => this.encode(&item),
                    Poll::Ready(Some(Err(status))) => this.end = Some(Some(status)),
                    Poll::Ready(None) => this.end = Some(None),
                    Poll::Pending => break,
                }
            }
            if this.pending.is_empty() && !this.buffer.is_empty() {
                this.pending = this.buffer.split().freeze();
            }
            if !this.pending.is_empty() {
                continue;
            }
            if let Some(status) = &this.end {
                let _ = match this.ends_with {
                    StreamEnd::Trailers => {
                        this.send.send_trailers(status_trailers(status.as_ref()))
                    }
                    StreamEnd::EndStream => this.send.send_data(Bytes::new(), true),
                };
                return Poll::Ready(());
            }
            // Idle: notice a reset from the peer, which ends the link's sending side.
            return match this.send.poll_reset(cx) {
                Poll::Ready(_) => Poll::Ready(()),
                Poll::Pending => Poll::Pending,
            };
        }
    }
}
