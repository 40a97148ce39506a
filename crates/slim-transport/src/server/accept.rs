//! The accept loop: takes connections from the listener, sets their socket options, runs
//! TLS handshakes concurrently (bounded, with a timeout) so a slow or silent client cannot
//! stall accepting, and hands every ready connection to the server.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};

use super::Listener;
use crate::config::QuickAck;
use crate::io::{AcceptedIo, Conn, QuickAckSwitch, RemoteAddr, ServerIo, tune_tcp};
use crate::metrics;

/// How long a TLS handshake may take before the connection is dropped.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// TLS handshakes in progress at once; further connections wait in the kernel backlog.
const MAX_PENDING_HANDSHAKES: usize = 256;

/// A socket file left by a previous process would make `bind` fail; remove it if it is a
/// socket (never a regular file).
pub(super) fn remove_stale_socket(path: &std::path::Path) {
    use std::os::unix::fs::FileTypeExt;
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && meta.file_type().is_socket()
    {
        let _ = std::fs::remove_file(path);
    }
}

pub(super) async fn accept_loop(
    listener: Listener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    keepalive: Option<Duration>,
    quickack: QuickAck,
    tx: mpsc::Sender<AcceptedIo>,
) {
    let handshakes = Arc::new(Semaphore::new(MAX_PENDING_HANDSHAKES));
    loop {
        let accepted = tokio::select! {
            () = tx.closed() => return,
            accepted = accept_one(&listener, keepalive, quickack) => accepted,
        };
        let (conn, remote, quickack) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                // Usually out of file descriptors: back off briefly instead of spinning.
                metrics::accept_error("accept");
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(acceptor) = tls.clone() else {
            if tx
                .send(AcceptedIo {
                    io: ServerIo::Plain(conn),
                    remote,
                    quickack,
                })
                .await
                .is_err()
            {
                return;
            }
            continue;
        };
        let Ok(permit) = handshakes.clone().acquire_owned().await else {
            return;
        };
        let tx = tx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(conn)).await {
                Ok(Ok(stream)) => {
                    let _ = tx
                        .send(AcceptedIo {
                            io: ServerIo::Tls(Box::new(stream)),
                            remote,
                            quickack,
                        })
                        .await;
                }
                Ok(Err(error)) => {
                    metrics::accept_error("tls_handshake");
                    tracing::warn!(remote = %remote.0, %error, "TLS handshake failed");
                }
                Err(_) => {
                    metrics::accept_error("tls_handshake_timeout");
                    tracing::warn!(remote = %remote.0, "TLS handshake timed out");
                }
            }
        });
    }
}

async fn accept_one(
    listener: &Listener,
    keepalive: Option<Duration>,
    quickack: QuickAck,
) -> std::io::Result<(Conn, RemoteAddr, Option<QuickAckSwitch>)> {
    match listener {
        Listener::Tcp(listener) => {
            let (stream, addr) = listener.accept().await?;
            if let Err(error) = tune_tcp(&stream, keepalive) {
                tracing::debug!(%error, "could not set socket options");
            }
            let (conn, switch) = Conn::tcp(stream, quickack);
            Ok((conn, RemoteAddr(addr.to_string()), Some(switch)))
        }
        Listener::Unix(listener, path) => {
            let (stream, _) = listener.accept().await?;
            Ok((
                Conn::Unix(stream),
                RemoteAddr(format!("unix://{}", path.display())),
                None,
            ))
        }
    }
}
