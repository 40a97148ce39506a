//! One accepted HTTP/2 connection, served entirely on one task.
//!
//! The task drives the `h2` connection (socket reads and writes), and next to it, for each
//! `OpenChannel` stream: the negotiation and then the [`LinkWork`](super::LinkWork) the
//! handler returned (the node's receive loop), and the [`StreamWriter`] that moves the link's
//! outbound queue into the stream. A frame arriving on the socket therefore reaches the
//! handler without crossing a task, and a frame queued for this link reaches the socket with
//! one wake-up of this task: a crossing of the node costs two wake-ups (the source
//! connection's task, then the destination's), where tonic and hyper needed four (their
//! connection task, our receive task, hyper's per-stream task, the connection task again).
//!
//! The parts are independent futures on one task: a link whose handler waits for room in a
//! full destination queue stops reading only its own stream, while the connection keeps
//! answering PINGs and this link's writer keeps sending.
//!
//! Wake-ups the task causes itself (h2 waking its connection when a writer queues data, a
//! stream waking its link while the connection reads) are absorbed
//! ([`poll_absorbing_self_wakes`]).
//!
//! Around the streams: HTTP/2 keepalive PINGs (the connection closes when one goes
//! unanswered), `max_connection_age` and server shutdown (graceful GOAWAY: open links finish
//! first), and a trailers-only `UNIMPLEMENTED` for any path but `OpenChannel`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::{oneshot, watch};

use super::{Shared, negotiate_link};
use crate::codec::{FrameSigner, MacSlot, OPEN_CHANNEL_PATH};
use crate::http2::grpc::{GrpcRecv, response_headers, trailers_only};
use crate::http2::{Keepalive, StreamEnd, StreamWriter, poll_absorbing_self_wakes};
use crate::io::{AcceptedIo, QuickAckSwitch, ServerIo};
use crate::metrics;
use crate::queue::{self, StreamOutbound};

/// How long a client may take to send the HTTP/2 preface and settings.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

type Work = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Serves one accepted connection until it closes and every link on it has finished.
pub(super) async fn serve(accepted: AcceptedIo, shared: Arc<Shared>, stop: watch::Receiver<bool>) {
    let AcceptedIo {
        io,
        remote,
        quickack,
    } = accepted;
    let handshake = shared.http2.handshake::<ServerIo, Bytes>(io);
    let conn = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(error)) => {
            metrics::accept_error("http2_handshake");
            tracing::debug!(remote = %remote.0, %error, "HTTP/2 handshake failed");
            return;
        }
        Err(_) => {
            metrics::accept_error("http2_handshake_timeout");
            tracing::debug!(remote = %remote.0, "HTTP/2 handshake timed out");
            return;
        }
    };
    let mut connection = Connection::new(conn, remote.0, quickack, shared, stop);
    poll_absorbing_self_wakes(|cx| connection.poll(cx)).await;
}

struct Connection {
    /// `None` once the connection has closed; dropping it fails the streams still open.
    conn: Option<h2::server::Connection<ServerIo, Bytes>>,
    remote: String,
    /// The socket's quick-ack switch (TCP), settled by each link's negotiation.
    quickack: Option<QuickAckSwitch>,
    shared: Arc<Shared>,
    /// Negotiation and then the handler's work, one per stream; each must run to its end
    /// (the handler unregisters its link there).
    links: FuturesUnordered<Work>,
    writers: FuturesUnordered<StreamWriter>,
    keepalive: Keepalive,
    /// Completes when the server shuts down or the connection reaches its maximum age.
    retire: Work,
    retiring: bool,
}

impl Connection {
    fn new(
        mut conn: h2::server::Connection<ServerIo, Bytes>,
        remote: String,
        quickack: Option<QuickAckSwitch>,
        shared: Arc<Shared>,
        mut stop: watch::Receiver<bool>,
    ) -> Self {
        let keepalive = Keepalive::new(
            conn.ping_pong(),
            shared.keepalive.time,
            shared.keepalive.timeout,
        );
        let max_age = shared.keepalive.max_connection_age;
        let retire = Box::pin(async move {
            let age = async {
                match max_age {
                    Some(age) => tokio::time::sleep(age).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = stop.wait_for(|stopped| *stopped) => {}
                () = age => {}
            }
        });
        Connection {
            conn: Some(conn),
            remote,
            quickack,
            shared,
            links: FuturesUnordered::new(),
            writers: FuturesUnordered::new(),
            keepalive,
            retire,
            retiring: false,
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.retiring && self.retire.as_mut().poll(cx).is_ready() {
            self.retiring = true;
            if let Some(conn) = &mut self.conn {
                conn.graceful_shutdown();
            }
        }
        if let Some(conn) = &mut self.conn
            && self.keepalive.poll_expired(cx).is_ready()
        {
            tracing::warn!(remote = %self.remote, "keepalive PING unanswered; closing the connection");
            conn.abrupt_shutdown(h2::Reason::NO_ERROR);
            self.close();
        }
        // Read what arrived (and accept new streams), run the links and writers on it, then
        // drive the connection once more so what they wrote leaves in this same poll.
        self.drive(cx);
        while let Poll::Ready(Some(())) = self.links.poll_next_unpin(cx) {}
        while let Poll::Ready(Some(())) = self.writers.poll_next_unpin(cx) {}
        self.drive(cx);
        if self.conn.is_none() && self.links.is_empty() {
            return Poll::Ready(());
        }
        Poll::Pending
    }

    fn drive(&mut self, cx: &mut Context<'_>) {
        while let Some(conn) = &mut self.conn {
            match conn.poll_accept(cx) {
                Poll::Ready(Some(Ok((request, respond)))) => self.open_stream(request, respond),
                Poll::Ready(Some(Err(error))) => {
                    tracing::debug!(remote = %self.remote, %error, "connection failed");
                    self.close();
                }
                Poll::Ready(None) => self.close(),
                Poll::Pending => return,
            }
        }
    }

    /// Forgets the connection: its streams fail, so the links see their end; writers have
    /// nowhere to write any more.
    fn close(&mut self) {
        self.conn = None;
        self.writers.clear();
    }

    fn open_stream(
        &mut self,
        request: http::Request<h2::RecvStream>,
        mut respond: h2::server::SendResponse<Bytes>,
    ) {
        if request.uri().path() != OPEN_CHANNEL_PATH {
            let status = tonic::Status::unimplemented("unknown method");
            let _ = respond.send_response(trailers_only(&status), true);
            return;
        }
        let Ok(send) = respond.send_response(response_headers(), false) else {
            return;
        };
        let shared = self.shared.clone();
        let inbound = GrpcRecv::new(request.into_body(), shared.max_frame_bytes);
        let (sender, outbound) = queue::bounded(shared.queue_capacity);
        let (failure_tx, failure_rx) = oneshot::channel();
        let slot = MacSlot::default();
        self.writers.push(StreamWriter::new(
            send,
            StreamOutbound::new(outbound, failure_rx),
            FrameSigner::new(slot.clone()),
            StreamEnd::Trailers,
        ));
        let remote = self.remote.clone();
        let quickack = self.quickack.clone();
        self.links.push(Box::pin(async move {
            match negotiate_link(&shared, &slot, remote, quickack, inbound, &sender).await {
                Ok(link) => {
                    // From here on the link's queue lives as long as the handler keeps it.
                    drop(sender);
                    shared.handler.on_link(link).await;
                }
                Err(status) => {
                    // Status first, then the last sender: the stream ends with this status.
                    let _ = failure_tx.send(status);
                    drop(sender);
                }
            }
        }));
    }
}
