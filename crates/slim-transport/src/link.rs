//! [`Link`]: one negotiated data-plane stream, as the node and the client use it.
//!
//! A link is a [`LinkSender`] (the bounded outbound queue, cheap to clone) and a
//! [`LinkReceiver`] (inbound frames, MAC-checked and filtered), plus [`LinkInfo`] saying who is
//! on the other end. Whether the stream was accepted or dialed makes no difference past this
//! point.

use std::pin::Pin;
use std::task::Poll;

use slim_wire::{Frame, FrameError, FrameKind};
use tokio_stream::Stream;

use crate::codec::MacSlot;
use crate::http2::adopt::ConnectionHandle;
use crate::http2::grpc::GrpcRecv;
use crate::io::QuickAckSwitch;
use crate::mac::{InboundMac, MacError};
use crate::metrics;
use crate::negotiate::{ConnectionType, Negotiated, PeerInfo};
use crate::queue::LinkSender;

/// Which end opened the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The other end dialed us.
    Accepted,
    /// We dialed.
    Dialed,
}

/// Who is on the other end of a link and how it is protected.
#[derive(Debug, Clone)]
pub struct LinkInfo {
    /// The negotiated link id.
    pub link_id: String,
    /// Which end opened the stream.
    pub direction: Direction,
    /// Remote socket address or endpoint, for logs.
    pub remote: String,
    /// The negotiated connection type.
    pub connection_type: ConnectionType,
    /// What the other end said about itself.
    pub peer: PeerInfo,
    /// True when frames are signed and verified with a negotiated key.
    pub signed: bool,
    /// True when the key is hybrid (X25519 + ML-KEM-768).
    pub hybrid: bool,
    /// True when this end acknowledges every TCP segment at once (`tcp_quickack`: always,
    /// or `auto` toward a peer that did not announce `TCP_NODELAY`).
    pub quick_acks: bool,
}

/// A negotiated link.
#[derive(Debug)]
pub struct Link {
    /// Who is on the other end.
    pub info: LinkInfo,
    /// Queue of frames to send.
    pub sender: LinkSender,
    /// Frames received.
    pub receiver: LinkReceiver,
    /// A dialed link's connection, for a reader that wants to drive it from its own task
    /// (see [`ConnectionHandle`]); `None` for accepted links, whose server drives them.
    pub connection: Option<ConnectionHandle>,
}

/// The connection a link was negotiated on, as seen from this end.
pub(crate) struct Socket<'a> {
    /// Which end opened it.
    pub(crate) direction: Direction,
    /// Remote address or endpoint, for logs.
    pub(crate) remote: String,
    /// Its quick-ack switch (TCP only), settled by the negotiation's outcome.
    pub(crate) quickack: Option<&'a QuickAckSwitch>,
}

impl Link {
    /// Assembles a freshly negotiated link: publishes the MAC key to the frame signer, sets
    /// up the checks of received frames (`strict`: a missing MAC drops the frame), settles
    /// the socket's quick acknowledgements, and logs the link with who is on the other end.
    pub(crate) fn negotiated(
        negotiated: Negotiated,
        strict: bool,
        slot: &MacSlot,
        inbound: GrpcRecv,
        sender: LinkSender,
        socket: Socket<'_>,
    ) -> Link {
        let Socket {
            direction,
            remote,
            quickack,
        } = socket;
        if let Some(key) = &negotiated.mac_key {
            slot.install(key.clone());
        }
        let mac = InboundMac::for_link(
            negotiated.mac_key.as_ref(),
            strict,
            negotiated.connection_type,
        );
        let receiver = LinkReceiver::new(inbound, mac, negotiated.link_id.clone());
        let quick_acks = quickack.is_some_and(|switch| switch.settle(negotiated.peer.nodelay));
        let info = LinkInfo {
            link_id: negotiated.link_id,
            direction,
            remote,
            connection_type: negotiated.connection_type,
            peer: negotiated.peer,
            signed: negotiated.mac_key.is_some(),
            hybrid: negotiated.hybrid,
            quick_acks,
        };
        tracing::info!(
            link_id = %info.link_id,
            remote = %info.remote,
            connection_type = info.connection_type.as_str(),
            peer_node = %info.peer.node_id,
            signed = info.signed,
            hybrid = info.hybrid,
            quick_acks = info.quick_acks,
            "link {}",
            match direction {
                Direction::Accepted => "accepted",
                Direction::Dialed => "established",
            }
        );
        Link {
            info,
            sender,
            receiver,
            connection: None,
        }
    }
}

/// How a link ended.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LinkEnd {
    /// The other end closed the stream cleanly.
    #[error("closed by peer")]
    Closed,
    /// The stream failed (reset, protocol error, oversize frame, connection lost).
    #[error("stream failed: {0}")]
    Failed(tonic::Status),
}

/// Per-batch drop counts, reported to metrics once per batch.
#[derive(Debug, Default)]
struct DropCounts {
    malformed: u64,
    unknown_type: u64,
    oversize: u64,
    mac: [u64; 3],
    late_link: u64,
}

impl DropCounts {
    fn flush(&mut self) {
        metrics::dropped("malformed", self.malformed);
        metrics::dropped("unknown_message_type", self.unknown_type);
        metrics::dropped("oversize", self.oversize);
        let mac_total: u64 = self.mac.iter().sum();
        for (count, error) in
            self.mac
                .iter()
                .zip([MacError::Missing, MacError::Mismatch, MacError::Unexpected])
        {
            metrics::dropped(error.reason(), *count);
        }
        if mac_total > 0 {
            ::metrics::counter!(metrics::MAC_FAILURES).increment(mac_total);
        }
        metrics::dropped("link_after_negotiation", self.late_link);
        *self = DropCounts::default();
    }
}

/// The receiving half of a link.
pub struct LinkReceiver {
    inbound: GrpcRecv,
    mac: InboundMac,
    link_id: String,
    drops: DropCounts,
    /// Total frames dropped on this link (for logs: the first drop is a warning).
    dropped_total: u64,
    /// An end seen while a batch was already filled, reported on the next call.
    pending_end: Option<LinkEnd>,
}

impl std::fmt::Debug for LinkReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkReceiver")
            .field("link_id", &self.link_id)
            .field("dropped_total", &self.dropped_total)
            .finish_non_exhaustive()
    }
}

impl LinkReceiver {
    pub(crate) fn new(inbound: GrpcRecv, mac: InboundMac, link_id: String) -> Self {
        LinkReceiver {
            inbound,
            mac,
            link_id,
            drops: DropCounts::default(),
            dropped_total: 0,
            pending_end: None,
        }
    }

    /// The next valid frame.
    pub async fn recv(&mut self) -> Result<Frame, LinkEnd> {
        let mut one = Vec::with_capacity(1);
        self.recv_batch(&mut one, 1).await?;
        one.pop().ok_or(LinkEnd::Closed)
    }

    /// Waits for at least one valid frame, then appends every frame already received, up to
    /// `max`. Invalid frames are dropped and counted on the way. On `Ok`, `out` grew by at
    /// least one frame.
    pub async fn recv_batch(&mut self, out: &mut Vec<Frame>, max: usize) -> Result<(), LinkEnd> {
        if let Some(end) = self.pending_end.take() {
            return Err(end);
        }
        let start = out.len();
        let max = max.max(1);
        let result = std::future::poll_fn(|cx| {
            loop {
                if out.len() - start >= max {
                    return Poll::Ready(Ok(()));
                }
                let end = match Pin::new(&mut self.inbound).poll_next(cx) {
                    Poll::Ready(Some(Ok(Ok(frame)))) => {
                        if self.admit(&frame) {
                            out.push(frame);
                        }
                        continue;
                    }
                    Poll::Ready(Some(Ok(Err(error)))) => {
                        self.reject(&error);
                        continue;
                    }
                    Poll::Pending if out.len() > start => return Poll::Ready(Ok(())),
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Some(Err(status))) => LinkEnd::Failed(status),
                    Poll::Ready(None) => LinkEnd::Closed,
                };
                if out.len() > start {
                    self.pending_end = Some(end);
                    return Poll::Ready(Ok(()));
                }
                return Poll::Ready(Err(end));
            }
        })
        .await;
        self.drops.flush();
        result
    }

    /// Checks a parsed frame against the link's rules; false drops it.
    fn admit(&mut self, frame: &Frame) -> bool {
        if frame.kind() == FrameKind::Link {
            // Negotiation happens once; later Link messages are ignored.
            self.drops.late_link += 1;
            self.note_drop("link message after negotiation");
            return false;
        }
        match self.mac.check(frame) {
            Ok(()) => true,
            Err(error) => {
                let slot = match error {
                    MacError::Missing => 0,
                    MacError::Mismatch => 1,
                    MacError::Unexpected => 2,
                };
                self.drops.mac[slot] += 1;
                self.note_drop(error.reason());
                false
            }
        }
    }

    fn reject(&mut self, error: &FrameError) {
        match error {
            FrameError::NoMessageType => self.drops.unknown_type += 1,
            FrameError::TooLarge(_) => self.drops.oversize += 1,
            _ => self.drops.malformed += 1,
        }
        self.note_drop(&error.to_string());
    }

    fn note_drop(&mut self, reason: &str) {
        self.dropped_total += 1;
        if self.dropped_total == 1 {
            tracing::warn!(link_id = %self.link_id, %reason, "dropping invalid frame (further drops on this link are logged at debug)");
        } else {
            tracing::debug!(link_id = %self.link_id, %reason, "dropping invalid frame");
        }
    }

    /// Frames dropped on this link so far.
    pub fn dropped(&self) -> u64 {
        self.dropped_total
    }
}
