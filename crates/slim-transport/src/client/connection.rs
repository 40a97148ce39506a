//! The task of one dialed link's HTTP/2 connection: it drives the `h2` client connection
//! (socket reads and writes), writes the link's queue into the request stream, and sends
//! keepalive PINGs. The link's reader polls the response stream from its own task.
//!
//! The connection ends when the server closes it, when a PING goes unanswered, or when the
//! link is done on both sides (the queue closed and the response ended): the request handle
//! is dropped right after the one `OpenChannel` request, so h2 closes the connection once its
//! only stream is over. Dropping the connection fails the response stream, so the link's
//! reader always learns of the end.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;

use crate::http2::{Keepalive, StreamWriter, poll_absorbing_self_wakes};
use crate::io::ClientIo;

pub(super) async fn drive(
    mut conn: h2::client::Connection<ClientIo, Bytes>,
    writer: StreamWriter,
    keepalive_interval: Duration,
    keepalive_timeout: Duration,
    remote: String,
) {
    let mut keepalive = Keepalive::new(conn.ping_pong(), keepalive_interval, keepalive_timeout);
    let mut writer = Some(writer);
    poll_absorbing_self_wakes(|cx| {
        if keepalive.poll_expired(cx).is_ready() {
            tracing::warn!(%remote, "keepalive PING unanswered; closing the connection");
            return Poll::Ready(());
        }
        // The writer first, so what it hands to h2 leaves in the connection's poll below.
        if let Some(stream) = &mut writer
            && Pin::new(stream).poll(cx).is_ready()
        {
            writer = None;
        }
        match Pin::new(&mut conn).poll(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(()),
            Poll::Ready(Err(error)) => {
                tracing::debug!(%remote, %error, "connection failed");
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    })
    .await;
}
