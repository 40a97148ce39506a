//! [`Keepalive`]: HTTP/2 PINGs that find a dead peer (a half-open TCP connection, a peer
//! whose process hangs) on a connection this crate drives itself, server or client side.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// HTTP/2 PINGs: one every `interval`, and the connection is dead when one is not answered
/// within `timeout`.
pub(crate) struct Keepalive {
    pings: Option<h2::PingPong>,
    interval: Duration,
    timeout: Duration,
    timer: Pin<Box<Sleep>>,
    awaiting_pong: bool,
}

impl Keepalive {
    pub(crate) fn new(pings: Option<h2::PingPong>, interval: Duration, timeout: Duration) -> Self {
        Keepalive {
            pings,
            interval,
            timeout,
            timer: Box::pin(tokio::time::sleep(interval)),
            awaiting_pong: false,
        }
    }

    /// Ready when a PING went unanswered (or the connection can no longer send one).
    pub(crate) fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(pings) = &mut self.pings else {
            return Poll::Pending;
        };
        loop {
            if self.awaiting_pong {
                match pings.poll_pong(cx) {
                    Poll::Ready(Ok(_)) => {
                        self.awaiting_pong = false;
                        self.timer.as_mut().reset(Instant::now() + self.interval);
                    }
                    // The connection is gone; its own poll reports that.
                    Poll::Ready(Err(_)) => return Poll::Pending,
                    Poll::Pending => {}
                }
            }
            if self.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if self.awaiting_pong {
                return Poll::Ready(());
            }
            if pings.send_ping(h2::Ping::opaque()).is_err() {
                return Poll::Pending;
            }
            self.awaiting_pong = true;
            self.timer.as_mut().reset(Instant::now() + self.timeout);
        }
    }
}
