//! The node's metrics: counter names, the per-node handles the hot path increments, and the
//! optional Prometheus endpoint.
//!
//! Counters go through the `metrics` facade; without a recorder (Prometheus off) they cost
//! nothing. The receive loops count per batch, not per frame. Router-internal counters
//! (drops by reason, table sizes) are copied from `RouterStats` when the endpoint is scraped
//! (see [`on_scrape`]), so an idle node needs no periodic wake-up to keep them fresh.

use metrics::{Counter, Gauge};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use slim_router::{DropReason, RouterStats};
use slim_wire::FrameKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Frames received from links, by `kind` (after MAC checks).
pub const FRAMES_IN: &str = "slim_frames_received_total";
/// Frames queued to links, by `kind`.
pub const FRAMES_OUT: &str = "slim_frames_sent_total";
/// Frames the router dropped, by `reason` (transport drops are `slim_frames_dropped_total`).
pub const ROUTER_DROPS: &str = "slim_router_dropped_total";
/// Frames routed to a connection that closed before they could be queued.
pub const UNDELIVERABLE: &str = "slim_frames_undeliverable_total";
/// Live connections, by `kind`.
pub const CONNECTIONS: &str = "slim_connections_active";
/// Routes in the subscription table.
pub const ROUTES: &str = "slim_routes";
/// Subscription references in the subscription table.
pub const SUBSCRIPTIONS: &str = "slim_subscriptions";

const KINDS: [FrameKind; 5] = [
    FrameKind::Subscribe,
    FrameKind::Unsubscribe,
    FrameKind::Publish,
    FrameKind::Link,
    FrameKind::SubscriptionAck,
];

pub(crate) fn kind_index(kind: FrameKind) -> usize {
    match kind {
        FrameKind::Subscribe => 0,
        FrameKind::Unsubscribe => 1,
        FrameKind::Publish => 2,
        FrameKind::Link => 3,
        FrameKind::SubscriptionAck => 4,
    }
}

/// What runs before each scrape; a hook returning `false` is done (its node is gone).
type ScrapeHook = Box<dyn Fn() -> bool + Send + Sync>;

static SCRAPE_HOOKS: std::sync::Mutex<Vec<ScrapeHook>> = std::sync::Mutex::new(Vec::new());

/// Runs `hook` before every scrape of the Prometheus endpoint, until it returns `false`.
pub(crate) fn on_scrape(hook: impl Fn() -> bool + Send + Sync + 'static) {
    scrape_hooks().push(Box::new(hook));
}

fn scrape_hooks() -> std::sync::MutexGuard<'static, Vec<ScrapeHook>> {
    SCRAPE_HOOKS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Handles of one node's metrics, registered once.
pub(crate) struct NodeMetrics {
    frames_in: [Counter; 5],
    frames_out: [Counter; 5],
    pub(crate) undeliverable: Counter,
    drops: Vec<Counter>,
    connections: [Gauge; 4],
    routes: Gauge,
    subscriptions: Gauge,
}

impl NodeMetrics {
    pub(crate) fn new(node: &str) -> Self {
        let node = node.to_owned();
        let per_kind = |name: &'static str| {
            KINDS.map(
                |kind| metrics::counter!(name, "node" => node.clone(), "kind" => kind.as_str()),
            )
        };
        NodeMetrics {
            frames_in: per_kind(FRAMES_IN),
            frames_out: per_kind(FRAMES_OUT),
            undeliverable: metrics::counter!(UNDELIVERABLE, "node" => node.clone()),
            drops: DropReason::ALL
                .iter()
                .map(|r| metrics::counter!(ROUTER_DROPS, "node" => node.clone(), "reason" => r.as_str()))
                .collect(),
            connections: slim_router::ConnKind::ALL.map(|kind| {
                metrics::gauge!(CONNECTIONS, "node" => node.clone(), "kind" => kind.as_str())
            }),
            routes: metrics::gauge!(ROUTES, "node" => node.clone()),
            subscriptions: metrics::gauge!(SUBSCRIPTIONS, "node" => node),
        }
    }

    pub(crate) fn count_in(&self, counts: &[u64; 5]) {
        for (counter, count) in self.frames_in.iter().zip(counts) {
            if *count > 0 {
                counter.increment(*count);
            }
        }
    }

    pub(crate) fn count_out(&self, counts: &[u64; 5]) {
        for (counter, count) in self.frames_out.iter().zip(counts) {
            if *count > 0 {
                counter.increment(*count);
            }
        }
    }

    /// Copies the router's own counters and gauges.
    pub(crate) fn record_router(&self, stats: &RouterStats, connections: [usize; 4]) {
        for (counter, value) in self.drops.iter().zip(stats.drops) {
            counter.absolute(value);
        }
        for (gauge, value) in self.connections.iter().zip(connections) {
            gauge.set(value as f64);
        }
        self.routes.set(stats.routes as f64);
        self.subscriptions.set(stats.subscriptions as f64);
    }
}

/// Installs the Prometheus recorder (process-wide, before any node starts) and binds its
/// endpoint. Returns the handle and the listener to pass to [`serve_prometheus`].
pub fn install_prometheus(
    endpoint: &str,
) -> anyhow::Result<(PrometheusHandle, std::net::SocketAddr, TcpListener)> {
    let handle = PrometheusBuilder::new().install_recorder()?;
    let std_listener = std::net::TcpListener::bind(endpoint)?;
    std_listener.set_nonblocking(true)?;
    let addr = std_listener.local_addr()?;
    let listener = TcpListener::from_std(std_listener)?;
    Ok((handle, addr, listener))
}

/// Answers every HTTP request on `listener` with the metrics in Prometheus text format.
/// Deliberately minimal (one request per connection), since it only serves scrapers.
pub async fn serve_prometheus(listener: TcpListener, handle: PrometheusHandle) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let handle = handle.clone();
        tokio::spawn(async move {
            // Read (and ignore) the request head; bounded so a client cannot hold memory.
            let mut request = [0u8; 4096];
            let _ =
                tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut request))
                    .await;
            scrape_hooks().retain(|hook| hook());
            handle.run_upkeep();
            let body = handle.render();
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(body.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}
