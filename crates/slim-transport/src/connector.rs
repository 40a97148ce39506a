//! How a link dials: TCP (with `TCP_NODELAY`, keepalive and optionally `TCP_QUICKACK`) or a Unix socket, then TLS when
//! configured, with the same rustls setup as the server side (and `insecure_skip_verify`).

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::net::{TcpStream, UnixStream};

use crate::config::QuickAck;
use crate::io::{ClientIo, Conn, QuickAckSwitch, tune_tcp};

/// What to connect to.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    Tcp { host: String, port: u16 },
    Unix(PathBuf),
}

/// Dials one target.
pub(crate) struct Connector {
    pub(crate) target: Target,
    pub(crate) tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
    pub(crate) tcp_keepalive: Option<Duration>,
    /// `TCP_QUICKACK` after every read (see `ClientConfig::tcp_quickack`).
    pub(crate) tcp_quickack: QuickAck,
}

impl Connector {
    /// Connects; a TCP connection also gives its quick-ack switch, for the negotiation.
    pub(crate) async fn connect(self) -> io::Result<(ClientIo, Option<QuickAckSwitch>)> {
        let (conn, quickack) = match &self.target {
            Target::Tcp { host, port } => {
                let stream = TcpStream::connect((host.as_str(), *port)).await?;
                tune_tcp(&stream, self.tcp_keepalive)?;
                let (conn, switch) = Conn::tcp(stream, self.tcp_quickack);
                (conn, Some(switch))
            }
            Target::Unix(path) => (Conn::Unix(UnixStream::connect(path).await?), None),
        };
        let io = match self.tls {
            None => ClientIo::Plain(conn),
            Some((connector, name)) => {
                ClientIo::Tls(Box::new(connector.connect(name, conn).await?))
            }
        };
        Ok((io, quickack))
    }
}
