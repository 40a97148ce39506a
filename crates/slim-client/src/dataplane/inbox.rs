//! [`Inbox`]: the frames a client receives, in arrival order.

use bytes::Bytes;
use slim_wire::{Frame, Name, proto};
use tokio::sync::mpsc;

/// The receiving end of a client. Bounded: while it is full, the client stops reading its
/// link and the node holds (and eventually back-pressures) the traffic for it.
#[derive(Debug)]
pub struct Inbox {
    rx: mpsc::Receiver<Frame>,
    name: Name,
}

impl Inbox {
    pub(super) fn new(rx: mpsc::Receiver<Frame>, name: Name) -> Self {
        Inbox { rx, name }
    }

    /// The name of the client this inbox belongs to.
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// The next frame; `None` once the client is closed (or gave up reconnecting) and
    /// everything received was read.
    pub async fn recv(&mut self) -> Option<Frame> {
        self.rx.recv().await
    }

    /// Waits for at least one frame, then appends up to `limit` frames already received.
    /// Returns how many were appended (0 = closed).
    pub async fn recv_many(&mut self, out: &mut Vec<Frame>, limit: usize) -> usize {
        self.rx.recv_many(out, limit).await
    }

    /// A frame if one is waiting.
    pub fn try_recv(&mut self) -> Option<Frame> {
        self.rx.try_recv().ok()
    }
}

/// The application payload of a publish (`None` for other frames or command payloads).
pub fn app_payload(frame: &Frame) -> Option<Bytes> {
    match frame.decode().ok()?.message_type? {
        proto::message::MessageType::Publish(publish) => match publish.msg?.content_type? {
            proto::content::ContentType::AppPayload(app) => Some(app.blob),
            proto::content::ContentType::CommandPayload(_) => None,
        },
        _ => None,
    }
}
