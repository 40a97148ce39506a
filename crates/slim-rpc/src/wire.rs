//! The SlimRPC frame format: which metadata every frame carries, how deadlines are written,
//! and how a received session message is read as a frame.
//!
//! Every RPC frame is one application message of a session, with payload type `"msg"`:
//!
//! | frame | payload | metadata |
//! |---|---|---|
//! | first request frame | encoded request (or empty for an end) | `rpc-id`, `slimrpc-dir=req`, `service`, `method`, `slimrpc-timeout`, the caller's metadata, optionally `slimrpc-idempotency-key` |
//! | further request frame | encoded request | `rpc-id`, `slimrpc-dir=req` |
//! | end of the request stream | empty | `rpc-id`, `slimrpc-dir=req`, `slimrpc-code=0` |
//! | cancellation (ours) | UTF-8 reason | `rpc-id`, `slimrpc-dir=req`, `slimrpc-code=1` (caller cancelled) or `4` (caller's deadline passed) |
//! | response frame | encoded response (of a stream) | `rpc-id` |
//! | end of the response | empty after a stream; the encoded response of a unary or client-streaming call | `rpc-id`, `slimrpc-code=0` |
//! | error | UTF-8 message | `rpc-id`, `slimrpc-code=<1..16>` |
//!
//! A single response travels in its end frame: one message per reply instead of a response
//! frame and an empty end (upstream 3.3.8 clients read a payload on the OK end as the
//! response, and our clients read both forms). `rpc-id` is a UUIDv4 per call; `slimrpc-timeout` is the absolute deadline in seconds since
//! the UNIX epoch, as the text of an `f64` (upstream's form). A status code appears only on
//! terminal frames. Servers act only on frames with `slimrpc-dir=req`, which is how they skip
//! responses and echoes in group sessions and upstream's redundant second end-of-stream
//! (sent without the direction).
//!
//! Extensions (ignored by upstream peers, which see them as caller metadata):
//! `slimrpc-idempotency-key` (see [`crate::server::IdempotencyConfig`]) and the cancellation
//! frame above. An upstream server that gets a cancellation for a call it already finished
//! drops it like any frame for an unknown call.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use slim_client::{Message, Name, Payload};

use crate::status::{Code, Status};

/// Metadata key: the call's id (a UUIDv4), on every frame of the call.
pub const RPC_ID: &str = "rpc-id";
/// Metadata key: the fully-qualified protobuf service (`example_service.Test`).
pub const SERVICE: &str = "service";
/// Metadata key: the method name (`Say`).
pub const METHOD: &str = "method";
/// Metadata key: direction; `req` on every frame a caller sends.
pub const DIRECTION: &str = "slimrpc-dir";
/// Value of [`DIRECTION`] on request frames.
pub const DIRECTION_REQUEST: &str = "req";
/// Metadata key: the status code, only on terminal frames.
pub const CODE: &str = "slimrpc-code";
/// Metadata key: the absolute deadline, seconds since the UNIX epoch as `f64` text.
pub const TIMEOUT: &str = "slimrpc-timeout";
/// Metadata key (extension): the caller's idempotency key.
pub const IDEMPOTENCY_KEY: &str = "slimrpc-idempotency-key";
/// The payload type of every RPC frame.
pub const PAYLOAD_TYPE: &str = "msg";
/// The deadline upstream clients send when the caller set none: ten hours from now.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(36_000);

/// Metadata keys the RPC layer owns; everything else is the caller's metadata.
const PROTOCOL_KEYS: [&str; 7] = [
    RPC_ID,
    SERVICE,
    METHOD,
    DIRECTION,
    CODE,
    TIMEOUT,
    IDEMPOTENCY_KEY,
];

/// True for the keys the RPC layer sets itself.
pub fn is_protocol_key(key: &str) -> bool {
    PROTOCOL_KEYS.contains(&key)
}

/// Writes an absolute deadline as decimal seconds since the epoch, the text an `f64` parser
/// reads (upstream writes `f64` `Display`; both parse to the same instant within the
/// precision of an `f64`).
///
/// Written from the integer seconds and nanoseconds, without trailing zeros: exact, and
/// about a tenth of the cost of formatting an `f64` by its shortest representation (which
/// was most of the cost of building a call's first frame).
pub fn encode_deadline(deadline: SystemTime) -> String {
    use std::fmt::Write as _;
    let since_epoch = deadline
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let mut text = String::with_capacity(32);
    let _ = write!(text, "{}", since_epoch.as_secs());
    let mut nanos = since_epoch.subsec_nanos();
    if nanos != 0 {
        let mut digits = 9;
        while nanos.is_multiple_of(10) {
            nanos /= 10;
            digits -= 1;
        }
        let _ = write!(text, ".{nanos:0digits$}");
    }
    text
}

/// Reads a `slimrpc-timeout` value. `None` for text that is not a finite, non-negative
/// number of seconds (the caller then gets the default deadline) or for a deadline too far
/// away to represent.
pub fn decode_deadline(text: &str) -> Option<SystemTime> {
    let seconds: f64 = text.trim().parse().ok()?;
    if !seconds.is_finite() || seconds < 0.0 {
        return None;
    }
    let since_epoch = Duration::try_from_secs_f64(seconds).ok()?;
    UNIX_EPOCH.checked_add(since_epoch)
}

/// The name of a method: fully-qualified service and method.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Method {
    service: std::borrow::Cow<'static, str>,
    method: std::borrow::Cow<'static, str>,
}

impl Method {
    /// A method of a service (`Method::new("example.Tools", "ExecuteTool")`).
    pub fn new(
        service: impl Into<std::borrow::Cow<'static, str>>,
        method: impl Into<std::borrow::Cow<'static, str>>,
    ) -> Method {
        Method {
            service: service.into(),
            method: method.into(),
        }
    }

    /// The same, usable in `const` contexts (generated code).
    pub const fn from_static(service: &'static str, method: &'static str) -> Method {
        Method {
            service: std::borrow::Cow::Borrowed(service),
            method: std::borrow::Cow::Borrowed(method),
        }
    }

    /// The fully-qualified service.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The method name.
    pub fn method(&self) -> &str {
        &self.method
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.service, self.method)
    }
}

/// What the first frame of a call carries besides its payload.
#[derive(Clone, Debug)]
pub(crate) struct CallHeader {
    pub method: Method,
    pub deadline: SystemTime,
    pub metadata: HashMap<String, String>,
    pub idempotency_key: Option<String>,
}

fn payload(blob: Bytes, metadata: HashMap<String, String>) -> Payload {
    Payload {
        blob,
        // The session's default payload type is `"msg"` (PAYLOAD_TYPE): leaving it unset
        // sends the same bytes without allocating the text for every frame.
        payload_type: None,
        metadata,
    }
}

fn base_metadata(rpc_id: &str, request: bool, extra: usize) -> HashMap<String, String> {
    let mut metadata = HashMap::with_capacity(2 + extra);
    metadata.insert(RPC_ID.to_owned(), rpc_id.to_owned());
    if request {
        metadata.insert(DIRECTION.to_owned(), DIRECTION_REQUEST.to_owned());
    }
    metadata
}

fn add_header(metadata: &mut HashMap<String, String>, header: &CallHeader) {
    for (key, value) in &header.metadata {
        if !is_protocol_key(key) {
            metadata.insert(key.clone(), value.clone());
        }
    }
    metadata.insert(SERVICE.to_owned(), header.method.service().to_owned());
    metadata.insert(METHOD.to_owned(), header.method.method().to_owned());
    metadata.insert(TIMEOUT.to_owned(), encode_deadline(header.deadline));
    if let Some(key) = &header.idempotency_key {
        metadata.insert(IDEMPOTENCY_KEY.to_owned(), key.clone());
    }
}

/// A request data frame; the call's first frame carries its header.
pub(crate) fn request_data(rpc_id: &str, blob: Bytes, header: Option<&CallHeader>) -> Payload {
    let extra = header.map_or(0, |h| h.metadata.len() + 4);
    let mut metadata = base_metadata(rpc_id, true, extra);
    if let Some(header) = header {
        add_header(&mut metadata, header);
    }
    payload(blob, metadata)
}

/// The end of a request stream (with the header when the stream was empty).
pub(crate) fn request_end(rpc_id: &str, header: Option<&CallHeader>) -> Payload {
    let mut frame = request_data(rpc_id, Bytes::new(), header);
    frame.metadata.insert(CODE.to_owned(), "0".to_owned());
    frame
}

/// The caller gives up on a call: `status` says why (cancelled, or its deadline passed).
pub(crate) fn request_cancel(rpc_id: &str, status: &Status) -> Payload {
    let mut metadata = base_metadata(rpc_id, true, 1);
    metadata.insert(CODE.to_owned(), status.code().as_i32().to_string());
    payload(Bytes::from(status.message().to_owned()), metadata)
}

/// A response data frame.
pub(crate) fn response_data(rpc_id: &str, blob: Bytes) -> Payload {
    payload(blob, base_metadata(rpc_id, false, 0))
}

/// The end of a response: OK (carrying the single response of a unary or client-streaming
/// call, or empty after a stream), or an error with its message.
pub(crate) fn response_end(rpc_id: &str, result: &Result<Bytes, Status>) -> Payload {
    let mut metadata = base_metadata(rpc_id, false, 1);
    let (code, blob) = match result {
        Ok(blob) => (Code::Ok, blob.clone()),
        Err(status) => {
            // An error must never read as success on the wire.
            let code = if status.code() == Code::Ok {
                Code::Unknown
            } else {
                status.code()
            };
            (code, Bytes::from(status.message().to_owned()))
        }
    };
    metadata.insert(CODE.to_owned(), code.as_i32().to_string());
    payload(blob, metadata)
}

/// What a received frame says.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum FrameKind {
    /// A message of the stream.
    Data(Bytes),
    /// The end of the stream: OK (with the single response of a unary or client-streaming
    /// call when it carries one), or an error.
    End(Result<Bytes, Status>),
}

/// One received RPC frame.
#[derive(Clone, Debug)]
pub(crate) struct Inbound {
    pub rpc_id: String,
    /// Sent by a caller (`slimrpc-dir=req`).
    pub request: bool,
    pub kind: FrameKind,
    /// The sender's full name.
    pub source: Name,
    /// Every metadata entry, protocol keys included.
    pub metadata: HashMap<String, String>,
}

impl Inbound {
    /// Reads a session message as an RPC frame; `None` when it is not one (no `rpc-id`).
    pub fn parse(message: Message) -> Option<Inbound> {
        let Message {
            payload, context, ..
        } = message;
        // A context with metadata is the message's own (never shared): taken whole.
        let context = Arc::try_unwrap(context).unwrap_or_else(|shared| (*shared).clone());
        let mut metadata = context.metadata;
        let rpc_id = metadata.remove(RPC_ID)?;
        if metadata.is_empty() {
            // A response data frame, the frame of every streamed response: nothing else to
            // look up (each lookup hashes its key).
            return Some(Inbound {
                rpc_id,
                request: false,
                kind: FrameKind::Data(payload),
                source: context.source,
                metadata,
            });
        }
        let request = metadata.get(DIRECTION).map(String::as_str) == Some(DIRECTION_REQUEST);
        let kind = match metadata.get(CODE) {
            None => FrameKind::Data(payload),
            Some(code) => match Code::from_wire(code) {
                Code::Ok => FrameKind::End(Ok(payload)),
                code => FrameKind::End(Err(Status::new(
                    code,
                    String::from_utf8_lossy(&payload).into_owned(),
                ))),
            },
        };
        Some(Inbound {
            rpc_id,
            request,
            kind,
            source: context.source,
            metadata,
        })
    }

    /// The call header, when this is a call's first frame (it names service and method).
    pub fn header(&self) -> Option<CallHeader> {
        let service = self.metadata.get(SERVICE)?;
        let method = self.metadata.get(METHOD)?;
        let deadline = self
            .metadata
            .get(TIMEOUT)
            .and_then(|text| decode_deadline(text))
            .unwrap_or_else(|| SystemTime::now() + DEFAULT_TIMEOUT);
        let metadata = self
            .metadata
            .iter()
            .filter(|(key, _)| !is_protocol_key(key))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        Some(CallHeader {
            method: Method::new(service.clone(), method.clone()),
            deadline,
            metadata,
            idempotency_key: self.metadata.get(IDEMPOTENCY_KEY).cloned(),
        })
    }
}

#[cfg(test)]
mod tests;
