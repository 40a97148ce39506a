//! What travels on a link and how it is signed: [`OutFrame`] (a frame and the TTL it leaves
//! with), [`InFrame`] (a parsed frame, or why the bytes were not one), and the per-frame
//! header MAC of outgoing frames ([`MacSlot`], `FrameSigner`).
//!
//! Received messages are `Frame::parse`d from the bytes HTTP/2 delivered, without a copy
//! when a message lies inside one DATA frame (`http2::grpc`); malformed messages are not
//! stream errors, so the receive loop can drop them, count them and keep the link. Outgoing
//! frames are written with [`Frame::encode_forwarded`] with the TTL the router chose and the
//! link's header MAC, computed once per frame on the connection's task, next to the write
//! that needs it. The MAC key is negotiated after the stream opens, so the signer reads it
//! from a shared [`MacSlot`] the first time it needs it.

use std::sync::{Arc, OnceLock};

use slim_wire::{Frame, FrameError};

use crate::mac::{HeaderMac, MacKey, Tag};

/// gRPC path of the data-plane stream.
pub const OPEN_CHANNEL_PATH: &str = "/dataplane.proto.v1.DataPlaneService/OpenChannel";

/// gRPC service name of the data plane.
pub const SERVICE_NAME: &str = "dataplane.proto.v1.DataPlaneService";

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

/// Signs frames with the link's header MAC as they leave.
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
