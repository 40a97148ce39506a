//! A tonic [`Codec`] that moves raw [`Frame`]s instead of decoded prost messages.
//!
//! Decoding is `Frame::parse` over the message bytes tonic already framed; tonic hands them
//! out as a slice of its receive buffer (`copy_to_bytes` on a `BytesMut` splits, it does not
//! copy), so a received frame costs no copy beyond the one tonic makes from the HTTP/2 DATA
//! frames. Malformed messages are not stream errors: they decode to `Err(FrameError)` so the
//! receive loop can drop them, count them and keep the link.
//!
//! Encoding writes [`Frame::encode_forwarded`] straight into tonic's output buffer with the
//! TTL the router chose and the link's header MAC, computed here, once per frame: the encoder
//! runs on the connection's writer, so signing happens next to the write that needs it.
//! The MAC key is negotiated after the stream opens, so the encoder reads it from a shared
//! [`MacSlot`] the first time it needs it.

use std::sync::{Arc, OnceLock};

use bytes::Buf;
use slim_wire::{Frame, FrameError};
use tonic::Status;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

use crate::mac::{HeaderMac, MacKey, Tag};

/// gRPC path of the data-plane stream.
pub const OPEN_CHANNEL_PATH: &str = "/dataplane.proto.v1.DataPlaneService/OpenChannel";

/// gRPC service name of the data plane.
pub const SERVICE_NAME: &str = "dataplane.proto.v1.DataPlaneService";

/// Initial size of tonic's encode and decode buffers. Large enough that a burst of small
/// frames coalesces into one HTTP/2 DATA frame and one write.
const BUFFER_SIZE: usize = 64 * 1024;

/// How many encoded bytes tonic gathers from ready frames before it hands them to HTTP/2.
const YIELD_THRESHOLD: usize = 256 * 1024;

/// A frame leaving on a link, with the TTL it leaves with.
#[derive(Debug, Clone)]
pub struct OutFrame {
    /// The frame, shared with any other links it fans out to.
    pub frame: Frame,
    /// TTL to write into the header (ignored for frames without one).
    pub ttl: u32,
}

impl OutFrame {
    /// A frame sent with the TTL it already carries (frames an endpoint originates).
    pub fn as_is(frame: Frame) -> Self {
        let ttl = frame.ttl();
        OutFrame { frame, ttl }
    }
}

/// What the decoder yields: a frame, or why the bytes were not one.
pub type InFrame = Result<Frame, FrameError>;

/// Where the negotiated MAC key is published for the encoder.
#[derive(Debug, Clone, Default)]
pub struct MacSlot(Arc<OnceLock<MacKey>>);

impl MacSlot {
    /// Publishes the key; later calls are ignored (a link has one key).
    pub fn install(&self, key: MacKey) {
        let _ = self.0.set(key);
    }

    fn get(&self) -> Option<&MacKey> {
        self.0.get()
    }
}

/// The frame codec of one stream.
#[derive(Debug, Clone, Default)]
pub struct FrameCodec {
    mac: MacSlot,
}

impl FrameCodec {
    /// A codec whose encoder signs with the key published in `mac`.
    pub fn new(mac: MacSlot) -> Self {
        FrameCodec { mac }
    }
}

impl Codec for FrameCodec {
    type Encode = OutFrame;
    type Decode = InFrame;
    type Encoder = FrameEncoder;
    type Decoder = FrameDecoder;

    fn encoder(&mut self) -> FrameEncoder {
        FrameEncoder {
            signer: FrameSigner::new(self.mac.clone()),
        }
    }

    fn decoder(&mut self) -> FrameDecoder {
        FrameDecoder
    }
}

/// Signs frames with the link's header MAC as they leave: what both the tonic encoder
/// (dialed links) and the HTTP/2 server's stream writer (accepted links) do per frame.
#[derive(Debug)]
pub(crate) struct FrameSigner {
    slot: MacSlot,
    signer: Option<HeaderMac>,
}

impl FrameSigner {
    pub(crate) fn new(slot: MacSlot) -> Self {
        FrameSigner { slot, signer: None }
    }

    /// The MAC `item` leaves with, if the link has a key and the frame a header.
    pub(crate) fn tag(&mut self, item: &OutFrame) -> Option<Tag> {
        if !item.frame.has_header() {
            return None;
        }
        if self.signer.is_none() {
            self.signer = self.slot.get().map(MacKey::header_mac);
        }
        self.signer
            .as_mut()
            .and_then(|signer| signer.sign_forwarded(&item.frame, item.ttl))
    }
}

/// Writes frames with their TTL and MAC.
#[derive(Debug)]
pub struct FrameEncoder {
    signer: FrameSigner,
}

impl Encoder for FrameEncoder {
    type Item = OutFrame;
    type Error = Status;

    fn encode(&mut self, item: OutFrame, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        let tag = self.signer.tag(&item);
        dst.reserve(item.frame.forwarded_len(item.ttl, tag.is_some()));
        item.frame.encode_forwarded(dst, item.ttl, tag.as_ref());
        Ok(())
    }

    fn buffer_settings(&self) -> BufferSettings {
        BufferSettings::new(BUFFER_SIZE, YIELD_THRESHOLD)
    }
}

/// Parses message bytes into frames.
#[derive(Debug)]
pub struct FrameDecoder;

impl Decoder for FrameDecoder {
    type Item = InFrame;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<InFrame>, Status> {
        let bytes = src.copy_to_bytes(src.remaining());
        Ok(Some(Frame::parse(bytes)))
    }

    fn buffer_settings(&self) -> BufferSettings {
        BufferSettings::new(BUFFER_SIZE, YIELD_THRESHOLD)
    }
}
