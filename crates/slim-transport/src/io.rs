//! The byte streams under HTTP/2: TCP or Unix sockets, with or without TLS, and the socket
//! options every link gets.
//!
//! Every TCP socket, accepted or dialed, has `TCP_NODELAY` set: a link carries many small
//! frames and the writer already batches them, so Nagle's algorithm only adds delay (upstream
//! leaves it on and pays up to tens of milliseconds per round trip for it). A socket can also
//! acknowledge every segment at once ([`QuickAckStream`]), for peers that leave Nagle on.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

use crate::config::QuickAck;

/// Sets `TCP_NODELAY` and, when given, TCP keepalive.
pub(crate) fn tune_tcp(stream: &TcpStream, keepalive: Option<Duration>) -> io::Result<()> {
    stream.set_nodelay(true)?;
    if let Some(idle) = keepalive {
        let sock = socket2::SockRef::from(stream);
        sock.set_tcp_keepalive(&socket2::TcpKeepalive::new().with_time(idle))?;
    }
    Ok(())
}

/// Forwards the tokio I/O traits of an enum to whichever variant it holds.
macro_rules! delegate_io {
    ($ty:ident { $($variant:ident),+ }) => {
        impl AsyncRead for $ty {
            fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
                match self.get_mut() { $($ty::$variant(s) => Pin::new(s).poll_read(cx, buf),)+ }
            }
        }
        impl AsyncWrite for $ty {
            fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
                match self.get_mut() { $($ty::$variant(s) => Pin::new(s).poll_write(cx, buf),)+ }
            }
            fn poll_write_vectored(self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
                match self.get_mut() { $($ty::$variant(s) => Pin::new(s).poll_write_vectored(cx, bufs),)+ }
            }
            fn is_write_vectored(&self) -> bool {
                match self { $($ty::$variant(s) => s.is_write_vectored(),)+ }
            }
            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                match self.get_mut() { $($ty::$variant(s) => Pin::new(s).poll_flush(cx),)+ }
            }
            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                match self.get_mut() { $($ty::$variant(s) => Pin::new(s).poll_shutdown(cx),)+ }
            }
        }
    };
}

/// Forwards `AsyncWrite` of a struct to its `$field` (the structs here only change reads).
macro_rules! forward_write {
    ($ty:ident, $field:tt) => {
        impl AsyncWrite for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut self.get_mut().$field).poll_write(cx, buf)
            }
            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[io::IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut self.get_mut().$field).poll_write_vectored(cx, bufs)
            }
            fn is_write_vectored(&self) -> bool {
                self.$field.is_write_vectored()
            }
            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Pin::new(&mut self.get_mut().$field).poll_flush(cx)
            }
            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Pin::new(&mut self.get_mut().$field).poll_shutdown(cx)
            }
        }
    };
}

/// A connected socket.
#[derive(Debug)]
pub(crate) enum Conn {
    Tcp(TcpStream),
    /// A TCP socket that may acknowledge every segment at once.
    TcpQuickAck(QuickAckStream),
    Unix(UnixStream),
}
delegate_io!(Conn {
    Tcp,
    TcpQuickAck,
    Unix
});

impl Conn {
    /// A TCP socket as `mode` wants it, and the switch that the link negotiation settles
    /// (see [`QuickAckSwitch::settle`]).
    pub(crate) fn tcp(stream: TcpStream, mode: QuickAck) -> (Conn, QuickAckSwitch) {
        let switch = QuickAckSwitch::new(mode);
        let conn = match mode {
            QuickAck::Never => Conn::Tcp(stream),
            QuickAck::Auto | QuickAck::Always => Conn::TcpQuickAck(QuickAckStream {
                stream,
                switch: switch.clone(),
            }),
        };
        (conn, switch)
    }
}

/// Whether a connection's socket acknowledges every segment at once, shared between the
/// socket (which reads it on every read) and the link negotiation (which settles it).
#[derive(Debug, Clone)]
pub(crate) struct QuickAckSwitch {
    mode: QuickAck,
    on: Arc<AtomicBool>,
}

impl QuickAckSwitch {
    fn new(mode: QuickAck) -> Self {
        QuickAckSwitch {
            mode,
            on: Arc::new(AtomicBool::new(mode != QuickAck::Never)),
        }
    }

    /// Settles the switch once the peer has said whether it writes with `TCP_NODELAY`:
    /// in `auto` mode such a peer gains nothing from quick acknowledgements, so they stop.
    /// Returns whether the socket goes on acknowledging at once.
    pub(crate) fn settle(&self, peer_nodelay: bool) -> bool {
        if self.mode == QuickAck::Auto && peer_nodelay {
            self.on.store(false, Ordering::Relaxed);
        }
        self.is_on()
    }

    fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }
}

/// A TCP stream that turns `TCP_QUICKACK` on again after every read that returned data,
/// while its switch is on.
///
/// Linux leaves quick-ack mode by itself once it sees an interactive exchange and then
/// delays ACKs again, so one `setsockopt` at connect time is not enough: it goes after each
/// read. The point is a peer with Nagle's algorithm on (upstream's node and applications),
/// whose next small write waits for our ACK of the previous one.
#[derive(Debug)]
pub(crate) struct QuickAckStream {
    stream: TcpStream,
    switch: QuickAckSwitch,
}

impl QuickAckStream {
    fn acknowledge_now(&self) {
        #[cfg(target_os = "linux")]
        if self.switch.is_on() {
            // Best effort: a failure only leaves the kernel's default (delayed ACKs).
            let _ = socket2::SockRef::from(&self.stream).set_tcp_quickack(true);
        }
    }
}

impl AsyncRead for QuickAckStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let read = Pin::new(&mut this.stream).poll_read(cx, buf);
        if matches!(read, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.acknowledge_now();
        }
        read
    }
}

forward_write!(QuickAckStream, stream);

/// An accepted connection as the HTTP/2 server reads it.
#[derive(Debug)]
pub(crate) enum ServerIo {
    Plain(Conn),
    Tls(Box<tokio_rustls::server::TlsStream<Conn>>),
}
delegate_io!(ServerIo { Plain, Tls });

/// Where an accepted connection came from, attached to every request on it.
#[derive(Debug, Clone)]
pub struct RemoteAddr(pub String);

/// An accepted connection, where it came from, and (TCP) its quick-ack switch.
#[derive(Debug)]
pub(crate) struct AcceptedIo {
    pub(crate) io: ServerIo,
    pub(crate) remote: RemoteAddr,
    pub(crate) quickack: Option<QuickAckSwitch>,
}

impl AsyncRead for AcceptedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

forward_write!(AcceptedIo, io);

/// A dialed connection as the HTTP/2 client writes it.
#[derive(Debug)]
pub(crate) enum ClientIo {
    Plain(Conn),
    Tls(Box<tokio_rustls::client::TlsStream<Conn>>),
}
delegate_io!(ClientIo { Plain, Tls });

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_quick_acks_stop_only_for_a_peer_that_announces_nodelay() {
        let settled = |mode, nodelay| QuickAckSwitch::new(mode).settle(nodelay);
        assert!(
            settled(QuickAck::Auto, false),
            "upstream peer: keep acknowledging at once"
        );
        assert!(
            !settled(QuickAck::Auto, true),
            "our peer: back to delayed ACKs"
        );
        assert!(settled(QuickAck::Always, true));
        assert!(!settled(QuickAck::Never, false));
        // Before the negotiation, `auto` acknowledges at once (the exchange itself may
        // cross a Nagle peer).
        assert!(QuickAckSwitch::new(QuickAck::Auto).is_on());
    }
}
