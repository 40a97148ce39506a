//! [`Node`]: one running routing node — its servers, its configured links, its router.
//!
//! Layout: this file starts and stops a node; `core.rs` holds the router, the connection
//! table and the receive and timer loops; `outbox.rs` turns router outputs into queue sends.

mod core;
mod outbox;

use std::sync::Arc;
use std::time::Duration;

use slim_router::{ConnId, Router, RouterStats};
use slim_transport::{ConnectionType, Link, LinkHandler, LinkWork, LocalNode, Server, ServerError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use self::core::Core;
use crate::config::ServiceConfig;

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A server could not be set up (bind, TLS files, ...).
    #[error("{service}.dataplane.servers[{index}]: {source}")]
    Server {
        /// The service key (`slim/0`).
        service: String,
        /// Index of the server entry.
        index: usize,
        /// What failed.
        source: ServerError,
    },
}

/// Hands accepted links to the core.
struct Acceptor(Arc<Core>);

impl LinkHandler for Acceptor {
    fn on_link(&self, link: Link) -> LinkWork {
        self.0.accept(link)
    }
}

/// A running node. Dropping it does not stop it; call [`Node::shutdown`].
pub struct Node {
    core: Arc<Core>,
    endpoints: Vec<String>,
    stop: watch::Sender<bool>,
    servers: Vec<JoinHandle<Result<(), ServerError>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("node_id", &self.core.node_id)
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// Starts the node of service `name`: binds every server (so the endpoints are real when
    /// this returns), starts serving, dials the configured links and starts the timer.
    /// Must run inside a tokio runtime.
    pub async fn start(name: &str, service: &ServiceConfig) -> Result<Node, NodeError> {
        let node_id = service
            .node_id
            .clone()
            .unwrap_or_else(|| format!("node-{}", uuid::Uuid::new_v4()));
        let mut router_config = service.router.clone();
        router_config.node_id = node_id.clone();
        let seed = rand_core::RngCore::next_u64(&mut rand_core::OsRng);
        let core = Core::new(Router::new(router_config, seed), node_id.clone());
        let local = LocalNode {
            node_id: node_id.clone(),
            deployment_name: service.deployment_name.clone(),
            post_quantum: service.dataplane.enforce_pqc,
        };

        let mut bound = Vec::new();
        for (index, config) in service.dataplane.servers.iter().enumerate() {
            let handler = Arc::new(Acceptor(core.clone()));
            let server = Server::bind(config.clone(), local.clone(), handler)
                .await
                .map_err(|source| NodeError::Server {
                    service: format!("services.{name}"),
                    index,
                    source,
                })?;
            bound.push(server);
        }
        let endpoints = bound
            .iter()
            .map(|s| s.local_endpoint().to_owned())
            .collect();
        let (stop, stopped) = watch::channel(false);
        let servers = bound
            .into_iter()
            .map(|server| {
                let mut stopped = stopped.clone();
                tokio::spawn(server.serve(async move {
                    let _ = stopped.wait_for(|s| *s).await;
                }))
            })
            .collect();

        let mut tasks = vec![tokio::spawn(core.clone().run_timer())];
        let scraped = Arc::downgrade(&core);
        crate::metrics::on_scrape(move || {
            scraped
                .upgrade()
                .map(|core| core.record_router_metrics())
                .is_some()
        });
        for (index, config) in service.dataplane.clients.iter().enumerate() {
            // Configured links keep their id across reconnections, so requests remembered
            // for them are replayed (a router rule).
            let conn = ConnId(index as u64 + 1);
            let core = core.clone();
            let config = config.clone();
            let local = local.clone();
            tasks.push(tokio::spawn(async move {
                let endpoint = config.endpoint.clone();
                let error =
                    slim_transport::reconnect(config, local, ConnectionType::Peer, |link| {
                        core.clone().run_dialed(conn, link)
                    })
                    .await;
                tracing::error!(%endpoint, %error, "link abandoned");
            }));
        }
        tracing::info!(node_id = %node_id, service = name, "node started");
        Ok(Node {
            core,
            endpoints,
            stop,
            servers,
            tasks,
        })
    }

    /// Where the servers listen, in configuration order, with real ports.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// The node id announced to peers.
    pub fn node_id(&self) -> &str {
        &self.core.node_id
    }

    /// The router's counters and table sizes.
    pub fn router_stats(&self) -> RouterStats {
        self.core.stats()
    }

    /// Stops accepting, closes every link and waits up to `drain` for the servers to finish.
    pub async fn shutdown(self, drain: Duration) {
        let _ = self.stop.send(true);
        for task in &self.tasks {
            task.abort();
        }
        self.core.close_all();
        let servers = async {
            for server in self.servers {
                match server.await {
                    Ok(Err(error)) => tracing::warn!(%error, "server stopped with an error"),
                    Err(error) if error.is_panic() => tracing::error!("server task panicked"),
                    _ => {}
                }
            }
        };
        if tokio::time::timeout(drain, servers).await.is_err() {
            tracing::warn!(
                ?drain,
                "connections still open after the drain timeout; exiting"
            );
        }
    }
}
