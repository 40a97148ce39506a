//! gRPC message framing on a raw HTTP/2 stream, for the server's own `OpenChannel` path.
//!
//! A gRPC message is one flag byte (compressed or not), a 4-byte big-endian length and the
//! message bytes; HTTP/2 DATA frames cut that byte stream wherever they like. [`GrpcRecv`]
//! turns a request body back into messages: a message that lies inside one DATA frame is a
//! slice of that frame (no copy), only one that spans frames is gathered into a buffer.
//! Flow-control capacity is released as soon as a DATA frame is taken from h2, so the window
//! the peer sees is governed by how fast the link's reader takes messages: a reader that
//! stops (a full destination queue) stops its peer within one window.
//!
//! At the end of a response body, its trailers' `grpc-status` decides between a clean end and
//! an error (that is how a server refuses a dialed link after its headers went out).
//!
//! The server's response side is [`response_headers`] (sent at once: upstream clients wait
//! for them before their first message) and [`status_trailers`], which end a stream with a
//! gRPC status; `grpc-message` is percent-encoded as the gRPC HTTP/2 mapping requires, and
//! [`status_from_headers`] reads both back.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue};
use slim_wire::Frame;
use tokio_stream::Stream;

use crate::codec::InFrame;

/// Bytes before each message: the compression flag and the length.
const PREFIX_LEN: usize = 5;

/// Splits a byte stream cut at arbitrary points back into gRPC messages.
#[derive(Debug)]
pub(crate) struct MessageSplitter {
    /// What is left of the last chunk, starting on a message boundary.
    chunk: Bytes,
    /// A message (or prefix) that began in an earlier chunk, gathered until whole.
    partial: BytesMut,
    /// Largest message accepted; a larger length is an error.
    max_message: usize,
}

impl MessageSplitter {
    pub(crate) fn new(max_message: usize) -> Self {
        MessageSplitter {
            chunk: Bytes::new(),
            partial: BytesMut::new(),
            max_message,
        }
    }

    /// Adds the next chunk. Call only once [`MessageSplitter::next_message`] returned
    /// `Ok(None)`: the previous chunk must be used up.
    pub(crate) fn push(&mut self, chunk: Bytes) {
        debug_assert!(self.chunk.is_empty());
        self.chunk = chunk;
    }

    /// True when no bytes of an unfinished message are held.
    pub(crate) fn is_empty(&self) -> bool {
        self.partial.is_empty() && self.chunk.is_empty()
    }

    /// The length in a message prefix at the start of `buf`, once the prefix is complete.
    fn message_len(&self, buf: &[u8]) -> Result<Option<usize>, tonic::Status> {
        let Some(prefix) = buf.get(..PREFIX_LEN) else {
            return Ok(None);
        };
        if prefix[0] != 0 {
            // We never announce an encoding, so a compliant peer never compresses.
            return Err(tonic::Status::unimplemented(
                "compressed messages are not supported",
            ));
        }
        let len = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]) as usize;
        if len > self.max_message {
            return Err(tonic::Status::out_of_range(format!(
                "message of {len} bytes exceeds the limit of {} bytes",
                self.max_message
            )));
        }
        Ok(Some(len))
    }

    /// The next whole message from what was pushed so far; `Ok(None)` wants another chunk.
    pub(crate) fn next_message(&mut self) -> Result<Option<Bytes>, tonic::Status> {
        while !self.partial.is_empty() {
            // Complete the message that began earlier, copying only what it still needs.
            let wanted = match self.message_len(&self.partial)? {
                Some(len) => PREFIX_LEN + len,
                None => PREFIX_LEN,
            };
            let missing = wanted - self.partial.len();
            let take = missing.min(self.chunk.len());
            self.partial.reserve(missing);
            self.partial.extend_from_slice(&self.chunk[..take]);
            self.chunk.advance(take);
            if let Some(len) = self.message_len(&self.partial)?
                && self.partial.len() == PREFIX_LEN + len
            {
                self.partial.advance(PREFIX_LEN);
                return Ok(Some(self.partial.split().freeze()));
            }
            if self.chunk.is_empty() {
                return Ok(None);
            }
        }
        match self.message_len(&self.chunk)? {
            Some(len) if self.chunk.len() >= PREFIX_LEN + len => {
                let message = self.chunk.slice(PREFIX_LEN..PREFIX_LEN + len);
                self.chunk.advance(PREFIX_LEN + len);
                Ok(Some(message))
            }
            _ => {
                self.partial.extend_from_slice(&self.chunk);
                self.chunk.clear();
                Ok(None)
            }
        }
    }
}

/// The messages of one request or response body.
pub(crate) struct GrpcRecv {
    body: h2::RecvStream,
    messages: MessageSplitter,
    /// The data ended; the trailers are next.
    data_ended: bool,
    /// An error or the end was reported; nothing more is read.
    done: bool,
}

impl GrpcRecv {
    pub(crate) fn new(body: h2::RecvStream, max_message: usize) -> Self {
        GrpcRecv {
            body,
            messages: MessageSplitter::new(max_message),
            data_ended: false,
            done: false,
        }
    }

    fn fail(&mut self, status: tonic::Status) -> Poll<Option<Result<InFrame, tonic::Status>>> {
        self.done = true;
        Poll::Ready(Some(Err(status)))
    }

    /// After the data: the end is clean unless the trailers carry an error status.
    fn poll_end(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<InFrame, tonic::Status>>> {
        let trailers = match self.body.poll_trailers(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(trailers)) => trailers,
            Poll::Ready(Err(error)) => return self.fail(stream_status(error)),
        };
        match trailers.as_ref().and_then(status_from_headers) {
            Some(status) if status.code() != tonic::Code::Ok => self.fail(status),
            _ => {
                self.done = true;
                Poll::Ready(None)
            }
        }
    }
}

impl Stream for GrpcRecv {
    type Item = Result<InFrame, tonic::Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        loop {
            match this.messages.next_message() {
                Ok(Some(message)) => return Poll::Ready(Some(Ok(Frame::parse(message)))),
                Ok(None) => {}
                Err(status) => return this.fail(status),
            }
            if this.data_ended {
                return this.poll_end(cx);
            }
            match this.body.poll_data(cx) {
                Poll::Ready(Some(Ok(data))) => {
                    // The bytes are ours now; let the peer send more.
                    let _ = this.body.flow_control().release_capacity(data.len());
                    this.messages.push(data);
                }
                Poll::Ready(Some(Err(error))) => return this.fail(stream_status(error)),
                Poll::Ready(None) if this.messages.is_empty() => this.data_ended = true,
                Poll::Ready(None) => {
                    return this.fail(tonic::Status::internal(
                        "stream ended in the middle of a message",
                    ));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// The status a failed HTTP/2 stream or connection reads as.
fn stream_status(error: h2::Error) -> tonic::Status {
    let code = match error.reason() {
        Some(h2::Reason::CANCEL) => tonic::Code::Cancelled,
        Some(h2::Reason::REFUSED_STREAM) | None => tonic::Code::Unavailable,
        Some(_) => tonic::Code::Internal,
    };
    tonic::Status::new(code, format!("http/2: {error}"))
}

/// The response head of a gRPC call.
pub(crate) fn response_headers() -> http::Response<()> {
    let mut response = http::Response::new(());
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    response
}

/// A trailers-only response: the call fails before any message.
pub(crate) fn trailers_only(status: &tonic::Status) -> http::Response<()> {
    let mut response = response_headers();
    append_status(response.headers_mut(), status);
    response
}

/// The trailers that end a stream with `status` (`None`: OK).
pub(crate) fn status_trailers(status: Option<&tonic::Status>) -> HeaderMap {
    let mut trailers = HeaderMap::new();
    match status {
        Some(status) => append_status(&mut trailers, status),
        None => {
            trailers.insert("grpc-status", HeaderValue::from_static("0"));
        }
    }
    trailers
}

/// The gRPC status in `headers` (trailers, or the headers of a trailers-only response), if
/// they carry one.
pub(crate) fn status_from_headers(headers: &HeaderMap) -> Option<tonic::Status> {
    let code = headers.get("grpc-status")?;
    let code = code
        .to_str()
        .ok()
        .and_then(|code| code.parse::<i32>().ok())
        .map_or(tonic::Code::Unknown, tonic::Code::from_i32);
    let message = headers
        .get("grpc-message")
        .map(|value| percent_decode(value.as_bytes()))
        .unwrap_or_default();
    Some(tonic::Status::new(code, message))
}

fn append_status(headers: &mut HeaderMap, status: &tonic::Status) {
    headers.insert("grpc-status", HeaderValue::from(status.code() as i32));
    if !status.message().is_empty()
        && let Ok(value) = HeaderValue::from_str(&percent_encode(status.message()))
    {
        headers.insert("grpc-message", value);
    }
}

/// gRPC's percent-encoding of `grpc-message`: printable ASCII except `%` stays, every other
/// byte of the UTF-8 form becomes `%XX`.
fn percent_encode(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for byte in message.bytes() {
        if (0x20..=0x7e).contains(&byte) && byte != b'%' {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The inverse of [`percent_encode`]; malformed escapes are kept as they are.
fn percent_decode(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some((&byte, tail)) = rest.split_first() {
        let escaped = (byte == b'%')
            .then(|| tail.get(..2))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(decoded) => {
                out.push(decoded);
                rest = &tail[2..];
            }
            None => {
                out.push(byte);
                rest = tail;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn framed(messages: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        for message in messages {
            out.push(0);
            out.extend_from_slice(&(message.len() as u32).to_be_bytes());
            out.extend_from_slice(message);
        }
        out
    }

    /// Feeds `bytes` cut at `cuts` and collects what comes out.
    fn split(bytes: &[u8], cuts: &[usize], max: usize) -> Result<Vec<Vec<u8>>, tonic::Status> {
        let mut splitter = MessageSplitter::new(max);
        let mut out = Vec::new();
        let mut start = 0;
        let mut ends: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        ends.push(bytes.len());
        ends.sort_unstable();
        for end in ends {
            splitter.push(Bytes::copy_from_slice(&bytes[start..end]));
            start = end;
            while let Some(message) = splitter.next_message()? {
                out.push(message.to_vec());
            }
        }
        assert!(splitter.is_empty(), "bytes left over");
        Ok(out)
    }

    proptest! {
        #[test]
        fn messages_survive_any_cutting_into_chunks(
            messages in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..12),
            cuts in prop::collection::vec(any::<usize>(), 0..20),
        ) {
            let bytes = framed(&messages);
            prop_assert_eq!(split(&bytes, &cuts, 300).unwrap(), messages);
        }
    }

    #[test]
    fn an_oversize_or_compressed_message_is_an_error_even_split() {
        let mut bytes = framed(&[vec![7; 100]]);
        assert_eq!(
            split(&bytes, &[2, 3], 99).unwrap_err().code(),
            tonic::Code::OutOfRange
        );
        bytes[0] = 1;
        assert_eq!(
            split(&bytes, &[1], 100).unwrap_err().code(),
            tonic::Code::Unimplemented
        );
    }

    #[test]
    fn grpc_messages_are_percent_encoded_outside_printable_ascii() {
        assert_eq!(percent_encode("plain text"), "plain text");
        assert_eq!(percent_encode("100% é\n"), "100%25 %C3%A9%0A");
    }

    #[test]
    fn an_error_status_becomes_status_and_message_trailers() {
        let trailers = status_trailers(Some(&tonic::Status::invalid_argument("bad: x")));
        assert_eq!(trailers["grpc-status"], "3");
        assert_eq!(trailers["grpc-message"], "bad: x");
        assert_eq!(status_trailers(None)["grpc-status"], "0");
    }

    #[test]
    fn a_status_reads_back_from_its_trailers() {
        for status in [
            tonic::Status::permission_denied("100% refused: é\n"),
            tonic::Status::invalid_argument(""),
        ] {
            let back = status_from_headers(&status_trailers(Some(&status))).unwrap();
            assert_eq!(back.code(), status.code());
            assert_eq!(back.message(), status.message());
        }
        assert_eq!(percent_decode(b"bad %zz %4"), "bad %zz %4");
        assert!(status_from_headers(&HeaderMap::new()).is_none());
    }
}
