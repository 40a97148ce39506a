//! `session`: the scenarios over `slim-client`'s public API (`App`, `Session`), the code
//! applications run, through a SLIM node. Every message crosses the whole client stack:
//! the handle, the application's driver task, the sans-IO session layer (sequence numbers,
//! acknowledgements, flow control, MLS when on), the link.
//!
//! Three patterns:
//!
//! - `rtt` (`rtt.rs`): a requester and an echo application hold a point-to-point session; one
//!   request in flight; time from before the publish to the echo's arrival. A reliable round
//!   trip is four data messages through the node plus the acknowledgements.
//! - `throughput` and `fanout` (`stream.rs`): one application publishes as fast as the
//!   session lets it to one peer (point-to-point) or to a group of `--members`; receivers
//!   check the order of what they get. With reliable delivery every publish's completion is
//!   awaited and must resolve `Ok`.
//!
//! Payloads carry a sequence number in their first 8 bytes (big-endian), so receivers can
//! check order and requesters can tell a late echo from the one they wait for.
//!
//! Applications are named `bench/<run>/<role>` and identify with a shared secret; each has
//! its own connection, spread over `--endpoint` (senders) and `--sub-endpoint` (receivers),
//! except that with `--shared-connection` the receivers of one endpoint share one.

mod rtt;
mod stream;

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context as _, Result};
use bytes::Bytes;
use slim_client::{App, AppConfig, Connection, ConnectionConfig, Name, SessionConfig, SessionKind};
use tokio::task::JoinSet;

use super::Run;
use crate::cli::{SessionArgs, SessionDelivery, SessionPattern, System};
use crate::report::{Report, SessionFigures};

/// How long closing the applications may take at the end of a run.
const CLOSE_LIMIT: Duration = Duration::from_secs(2);

/// Runs the session scenario.
pub async fn run(run: &Run, args: &SessionArgs) -> Result<Report> {
    anyhow::ensure!(
        run.common.system == System::Slim,
        "the session scenario drives SLIM sessions; it needs --system slim"
    );
    let setup = Setup::new(args);
    match args.pattern {
        SessionPattern::Rtt => rtt::run(run, &setup, args).await,
        SessionPattern::Throughput | SessionPattern::Fanout => stream::run(run, &setup, args).await,
    }
}

/// How the applications and their sessions are made.
struct Setup {
    reliable: bool,
    mls: bool,
    secret: String,
    window: Option<u32>,
    tcp_quickack: slim_client::QuickAck,
    /// With `--shared-connection`: the receivers' connections by endpoint, made on first use.
    shared: Option<tokio::sync::Mutex<HashMap<String, Connection>>>,
}

impl Setup {
    fn new(args: &SessionArgs) -> Setup {
        let delivery = args.delivery.unwrap_or(match args.pattern {
            SessionPattern::Fanout => SessionDelivery::FireAndForget,
            SessionPattern::Rtt | SessionPattern::Throughput => SessionDelivery::Reliable,
        });
        Setup {
            reliable: delivery == SessionDelivery::Reliable,
            mls: args.mls,
            secret: args.secret.clone(),
            window: args.window,
            tcp_quickack: args.tcp_quickack.into(),
            shared: args.shared_connection.then(Default::default),
        }
    }

    /// The session settings of this run.
    fn session_config(&self, kind: SessionKind) -> SessionConfig {
        let mut config = match kind {
            SessionKind::Group => SessionConfig::group(),
            SessionKind::PointToPoint => SessionConfig::point_to_point(),
        };
        if !self.reliable {
            config = config.with_reliability(None);
        }
        if self.mls {
            config = config.with_mls();
        }
        config
    }

    /// The name of the application playing `role` in this run.
    fn name(run: &Run, role: &str) -> Result<Name> {
        Name::new("bench", &run.id, role).with_context(|| format!("invalid name for `{role}`"))
    }

    /// Connects the application playing `role`, client number `index` on its side
    /// (receivers on the `--sub-endpoint` list).
    async fn connect(&self, run: &Run, role: &str, index: usize, receiver: bool) -> Result<App> {
        let endpoints = if receiver {
            &run.sub_endpoints
        } else {
            &run.endpoints
        };
        let endpoint = &endpoints[index % endpoints.len()];
        let mut config = AppConfig::new(endpoint.clone());
        if let Some(window) = self.window {
            config.layer.window = window;
        }
        config.link.tcp_quickack = self.tcp_quickack;
        let mut builder = App::builder(Self::name(run, role)?)
            .shared_secret(self.secret.clone())
            .config(config.clone());
        if let (true, Some(shared)) = (receiver, &self.shared) {
            let mut connections = shared.lock().await;
            let connection = match connections.get(endpoint) {
                Some(connection) => connection.clone(),
                None => {
                    let mut settings = ConnectionConfig::new(endpoint.clone());
                    settings.link = config.link;
                    let connection = Connection::connect(settings)
                        .await
                        .with_context(|| format!("connecting to {endpoint}"))?;
                    connections.insert(endpoint.clone(), connection.clone());
                    connection
                }
            };
            builder = builder.connection(&connection);
        }
        builder
            .connect()
            .await
            .with_context(|| format!("connecting `{role}` to {endpoint}"))
    }

    /// The figures every pattern fills the same way.
    fn figures(&self, pattern: SessionPattern, members: u32, setup: Duration) -> SessionFigures {
        SessionFigures {
            pattern: pattern.as_str(),
            reliable: self.reliable,
            mls: self.mls,
            members,
            shared_connection: self.shared.is_some(),
            setup_ms: setup.as_secs_f64() * 1e3,
            ..SessionFigures::default()
        }
    }
}

/// `template` with `seq` in its first 8 bytes (the template as is when shorter).
fn stamped(template: &[u8], seq: u64) -> Bytes {
    let mut payload = template.to_vec();
    if let Some(head) = payload.get_mut(..8) {
        head.copy_from_slice(&seq.to_be_bytes());
    }
    Bytes::from(payload)
}

/// The sequence number in the first 8 bytes of a payload.
fn stamp_of(payload: &[u8]) -> Option<u64> {
    let head: [u8; 8] = payload.get(..8)?.try_into().ok()?;
    Some(u64::from_be_bytes(head))
}

/// Checks the order of one receiver's sequence numbers (the first message is 1).
#[derive(Debug)]
struct Order {
    next: u64,
    reliable: bool,
    out_of_order: u64,
}

impl Order {
    fn new(reliable: bool) -> Order {
        Order {
            next: 1,
            reliable,
            out_of_order: 0,
        }
    }

    /// Notes message `seq`. Reliable: anything but the next one is out of order.
    /// Fire-and-forget: gaps are losses (counted by the totals), repeats and steps back are
    /// out of order.
    fn see(&mut self, seq: u64) {
        let wrong = if self.reliable {
            seq != self.next
        } else {
            seq < self.next
        };
        if wrong {
            self.out_of_order += 1;
        }
        self.next = self.next.max(seq + 1);
    }
}

/// Closes the applications, at most [`CLOSE_LIMIT`] in all (what is left is dropped).
async fn close_all(apps: impl IntoIterator<Item = App>) {
    let mut closing = JoinSet::new();
    for app in apps {
        closing.spawn(async move { app.close().await });
    }
    let _ = tokio::time::timeout(CLOSE_LIMIT, async {
        while closing.join_next().await.is_some() {}
    })
    .await;
    closing.abort_all();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip() {
        let template = [0xa5u8; 64];
        let payload = stamped(&template, 0x0102_0304_0506_0708);
        assert_eq!(payload.len(), 64);
        assert_eq!(stamp_of(&payload), Some(0x0102_0304_0506_0708));
        assert_eq!(payload[8..], template[8..]);
        assert_eq!(stamped(&[1, 2, 3], 9)[..], [1, 2, 3]);
        assert_eq!(stamp_of(&[1, 2, 3]), None);
    }

    #[test]
    fn reliable_order_flags_gaps_and_repeats() {
        let mut order = Order::new(true);
        for seq in [1, 2, 3, 5, 5, 6] {
            order.see(seq);
        }
        // 5 skipped 4, the second 5 repeats it.
        assert_eq!(order.out_of_order, 2);
    }

    #[test]
    fn fire_and_forget_order_allows_gaps() {
        let mut order = Order::new(false);
        for seq in [1, 3, 7, 6, 8] {
            order.see(seq);
        }
        assert_eq!(order.out_of_order, 1);
    }
}
