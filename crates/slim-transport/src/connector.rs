//! The connector tonic's channel dials through: TCP (with `TCP_NODELAY` and keepalive) or a
//! Unix socket, then TLS when configured. Doing TLS here rather than with tonic's TLS
//! support keeps one rustls setup for both sides and allows `insecure_skip_verify`.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::{TcpStream, UnixStream};

use crate::io::{ClientIo, Conn, tune_tcp};

/// What to connect to.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    Tcp { host: String, port: u16 },
    Unix(PathBuf),
}

/// Dials one target; cloned by tonic for each connection attempt.
#[derive(Clone)]
pub(crate) struct Connector {
    pub(crate) target: Target,
    pub(crate) tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
    pub(crate) tcp_keepalive: Option<Duration>,
}

impl Connector {
    async fn connect(self) -> io::Result<TokioIo<ClientIo>> {
        let conn = match &self.target {
            Target::Tcp { host, port } => {
                let stream = TcpStream::connect((host.as_str(), *port)).await?;
                tune_tcp(&stream, self.tcp_keepalive)?;
                Conn::Tcp(stream)
            }
            Target::Unix(path) => Conn::Unix(UnixStream::connect(path).await?),
        };
        let io = match self.tls {
            None => ClientIo::Plain(conn),
            Some((connector, name)) => {
                ClientIo::Tls(Box::new(connector.connect(name, conn).await?))
            }
        };
        Ok(TokioIo::new(io))
    }
}

impl tower_service::Service<http::Uri> for Connector {
    type Response = TokioIo<ClientIo>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<TokioIo<ClientIo>>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: http::Uri) -> Self::Future {
        Box::pin(self.clone().connect())
    }
}
