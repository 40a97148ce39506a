//! [`Inbox`]: the frames a client receives, in arrival order.
//!
//! It has two sources. A client made by [`super::DataPlaneClient::connect`] has its driver
//! task read the link and queue every frame here (bounded), so subscription acknowledgements
//! are resolved even when the application reads nothing. An application driver that always
//! reads (slim-client's own session driver) uses a direct inbox instead: the driver task hands
//! each link's receiving half over, and the inbox reads the link itself, resolving
//! subscription acknowledgements on the way. That saves one task hop (a wake-up and a queue)
//! per received batch on the latency path.

use bytes::Bytes;
use slim_transport::LinkReceiver;
use slim_wire::{Frame, FrameKind, Name, proto};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

use super::state::Shared;

/// A link's receiving half handed to a direct inbox, and how it tells the driver task that
/// the link ended (by sending, or by dropping the sender).
pub(super) type Handover = (LinkReceiver, oneshot::Sender<()>);

/// The receiving end of a client. Bounded: while it is full, the client stops reading its
/// link and the node holds (and eventually back-pressures) the traffic for it.
#[derive(Debug)]
pub struct Inbox {
    source: Source,
    name: Name,
}

#[derive(Debug)]
enum Source {
    /// Frames queued by the driver task.
    Queue(mpsc::Receiver<Frame>),
    /// The link read here.
    Direct(Box<Direct>),
}

#[derive(Debug)]
struct Direct {
    shared: Arc<Shared>,
    links: mpsc::Receiver<Handover>,
    current: Option<Handover>,
}

impl Inbox {
    pub(super) fn new(rx: mpsc::Receiver<Frame>, name: Name) -> Self {
        Inbox {
            source: Source::Queue(rx),
            name,
        }
    }

    pub(super) fn direct(shared: Arc<Shared>, links: mpsc::Receiver<Handover>, name: Name) -> Self {
        Inbox {
            source: Source::Direct(Box::new(Direct {
                shared,
                links,
                current: None,
            })),
            name,
        }
    }

    /// The name of the client this inbox belongs to.
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// The next frame; `None` once the client is closed (or gave up reconnecting) and
    /// everything received was read.
    pub async fn recv(&mut self) -> Option<Frame> {
        match &mut self.source {
            Source::Queue(rx) => rx.recv().await,
            Source::Direct(direct) => {
                let mut one = Vec::with_capacity(1);
                direct.recv_many(&mut one, 1).await;
                one.pop()
            }
        }
    }

    /// Waits for at least one frame, then appends up to `limit` frames already received.
    /// Returns how many were appended (0 = closed).
    pub async fn recv_many(&mut self, out: &mut Vec<Frame>, limit: usize) -> usize {
        match &mut self.source {
            Source::Queue(rx) => rx.recv_many(out, limit).await,
            Source::Direct(direct) => direct.recv_many(out, limit).await,
        }
    }

    /// A frame if one is waiting.
    pub fn try_recv(&mut self) -> Option<Frame> {
        match &mut self.source {
            Source::Queue(rx) => rx.try_recv().ok(),
            Source::Direct(direct) => {
                use futures_util::FutureExt as _;
                let mut one = Vec::with_capacity(1);
                direct.recv_many(&mut one, 1).now_or_never()?;
                one.pop()
            }
        }
    }
}

impl Direct {
    /// Cancel-safe: every frame taken from the link is in `out` by the time a poll returns.
    async fn recv_many(&mut self, out: &mut Vec<Frame>, limit: usize) -> usize {
        loop {
            let Some((receiver, ended)) = &mut self.current else {
                // The driver task hands over the next link, or is gone (client closed).
                match self.links.recv().await {
                    Some(handover) => self.current = Some(handover),
                    None => return 0,
                }
                continue;
            };
            let start = out.len();
            let result = tokio::select! {
                biased;
                result = receiver.recv_batch(out, limit) => Some(result),
                () = ended.closed() => None,
            };
            match result {
                // The driver task stopped (client closed): stop reading its link.
                None => self.current = None,
                Some(Ok(())) => {
                    let kept = self.take_acks(out, start);
                    if kept > 0 {
                        return kept;
                    }
                }
                Some(Err(end)) => {
                    tracing::info!(%end, "data-plane link ended");
                    if let Some((_, ended)) = self.current.take() {
                        let _ = ended.send(());
                    }
                }
            }
        }
    }

    /// Resolves the subscription acknowledgements among `out[start..]` and removes them;
    /// returns how many frames are left for the application.
    fn take_acks(&self, out: &mut Vec<Frame>, start: usize) -> usize {
        let mut index = start;
        while let Some(frame) = out.get(index) {
            if frame.kind() == FrameKind::SubscriptionAck {
                let ack = out.remove(index);
                super::driver::resolve(&self.shared, &ack);
            } else {
                index += 1;
            }
        }
        out.len() - start
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
