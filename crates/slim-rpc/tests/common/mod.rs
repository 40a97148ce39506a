//! Shared by the RPC process tests: a `slim` node process, applications on it, and a test
//! service.
//!
//! The node binary belongs to another package (`slim-node`): it is `$SLIM_NODE_BIN`, or
//! `slim` next to this test's deps folder (`target/<profile>/slim`), built by
//! `cargo build -p slim-node --bin slim` (what `scripts/test.sh` does first).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use slim_client::{App, AppConfig, Name};
use slim_rpc::{Code, Context, Method, RawCodec, ResponseSink, Server, Status, Streaming};
use slim_testkit::{NodeProcess, NodeSpec};

/// A shared secret for every application of a test.
pub const SECRET: &str = "rpc-process-test-secret-of-at-least-32-bytes";

/// Generous bound on waits that should take milliseconds (CI machines are slow).
pub const DEADLINE: Duration = Duration::from_secs(60);

/// The test service.
pub const SERVICE: &str = "test.Echo";

pub fn method(name: &'static str) -> Method {
    Method::from_static(SERVICE, name)
}

/// A node on a free loopback port.
pub fn node() -> NodeProcess {
    let mut spec = NodeSpec::new("rpc-tests");
    spec.log_level = "warn".into();
    NodeProcess::start(slim_testkit::slim_node_binary(), spec).expect("node starts")
}

/// `org/ns/<service>`.
pub fn name(service: &str) -> Name {
    Name::new("org", "ns", service).expect("valid test name")
}

/// An application `org/ns/<service>` on `node`.
pub async fn app(node: &NodeProcess, service: &str) -> App {
    let mut config = AppConfig::new(node.endpoint());
    config.link.backoff = slim_transport::config::BackoffConfig::Fixed {
        interval: Duration::from_millis(100),
        max_attempts: None,
    };
    App::builder(name(service))
        .shared_secret(SECRET)
        .config(config)
        .connect()
        .await
        .expect("application connects")
}

/// Runs `future` with the test deadline.
pub async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(DEADLINE, future).await {
        Ok(value) => value,
        Err(_) => panic!("{what}: not done within {DEADLINE:?}"),
    }
}

/// Polls `condition` until it holds (bounded by the test deadline).
pub async fn eventually(what: &str, condition: impl Fn() -> bool) {
    within(what, async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
}

/// What the test service's handlers observed.
#[derive(Debug, Default)]
pub struct Observed {
    /// Handler runs per method name, counted at entry.
    pub started: [AtomicUsize; 8],
    /// Handlers whose context was cancelled while they waited.
    pub saw_cancel: AtomicUsize,
    /// Handler futures dropped before they finished.
    pub dropped: AtomicUsize,
    /// Idempotent handler runs.
    pub effects: AtomicUsize,
}

impl Observed {
    pub fn count(counter: &AtomicUsize) -> usize {
        counter.load(Ordering::SeqCst)
    }
}

/// Counts a drop of the handler future that did not reach its end.
struct DropGuard {
    observed: Arc<Observed>,
    armed: bool,
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        if self.armed {
            self.observed.dropped.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// The test service (raw bytes):
/// - `Say` unary: `echo:` + request; `Count` server streaming (decimal N → "0".."N-1");
///   `Sum` client streaming → "<items>:<bytes>"; `Chat` bidi echo;
/// - `Fail` unary: request = decimal code → that status, message `failure <code>`;
/// - `Hang` unary: waits for cancellation (records that it saw it and that its future was
///   dropped); `Slow` unary: request = milliseconds to sleep, then `slept`;
/// - `Once` unary: counts an effect, answers `effect <n>` after the delay in ms given.
pub fn test_server(observed: Arc<Observed>) -> Server {
    let o = observed.clone();
    let hang_observed = observed.clone();
    let once_observed = observed.clone();
    Server::builder()
        .unary::<RawCodec, _, _>(method("Say"), move |request: Bytes, _ctx| {
            o.started[0].fetch_add(1, Ordering::SeqCst);
            async move { Ok(Bytes::from([&b"echo:"[..], &request].concat())) }
        })
        .server_streaming::<RawCodec, _, _>(
            method("Count"),
            |request: Bytes, _ctx, mut sink: ResponseSink<Bytes>| async move {
                let n: usize = parse(&request)?;
                for i in 0..n {
                    sink.send(Bytes::from(i.to_string())).await?;
                }
                Ok(())
            },
        )
        .client_streaming::<RawCodec, _, _>(
            method("Sum"),
            |mut requests: Streaming<Bytes>, _ctx| async move {
                let (mut items, mut bytes) = (0usize, 0usize);
                while let Some(item) = requests.message().await? {
                    items += 1;
                    bytes += item.len();
                }
                Ok(Bytes::from(format!("{items}:{bytes}")))
            },
        )
        .streaming::<RawCodec, _, _>(
            method("Chat"),
            |mut requests: Streaming<Bytes>, _ctx, mut sink: ResponseSink<Bytes>| async move {
                while let Some(item) = requests.next().await {
                    sink.send(item?).await?;
                }
                Ok(())
            },
        )
        .unary::<RawCodec, _, _>(method("Fail"), |request: Bytes, _ctx| async move {
            let code: i32 = parse(&request)?;
            let code = Code::from_i32(code).unwrap_or(Code::Unknown);
            Err::<Bytes, _>(Status::new(code, format!("failure {}", code.as_i32())))
        })
        .unary::<RawCodec, _, _>(method("Hang"), move |_request: Bytes, ctx: Context| {
            let observed = hang_observed.clone();
            observed.started[1].fetch_add(1, Ordering::SeqCst);
            async move {
                let mut guard = DropGuard {
                    observed: observed.clone(),
                    armed: true,
                };
                // A task the handler spawned, holding a clone of the context.
                let watcher = {
                    let ctx = ctx.clone();
                    let observed = observed.clone();
                    tokio::spawn(async move {
                        ctx.cancelled().await;
                        observed.saw_cancel.fetch_add(1, Ordering::SeqCst);
                    })
                };
                tokio::time::sleep(Duration::from_secs(3600)).await;
                guard.armed = false;
                drop(watcher);
                Ok(Bytes::new())
            }
        })
        .unary::<RawCodec, _, _>(method("Panic"), |_request: Bytes, _ctx| async move {
            if std::hint::black_box(true) {
                panic!("a handler that panics");
            }
            Ok(Bytes::new())
        })
        .unary::<RawCodec, _, _>(method("Slow"), |request: Bytes, _ctx| async move {
            let ms: u64 = parse(&request)?;
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(Bytes::from_static(b"slept"))
        })
        .unary::<RawCodec, _, _>(method("Once"), move |request: Bytes, _ctx| {
            let observed = once_observed.clone();
            async move {
                let n = observed.effects.fetch_add(1, Ordering::SeqCst) + 1;
                let ms: u64 = parse(&request)?;
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok(Bytes::from(format!("effect {n}")))
            }
        })
        .build()
}

fn parse<T: std::str::FromStr>(request: &[u8]) -> Result<T, Status> {
    std::str::from_utf8(request)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| Status::invalid_argument("expected a decimal number"))
}

/// A node, a server app `org/ns/server` serving the test service, and a client app.
pub struct Setup {
    pub node: NodeProcess,
    pub server_app: App,
    pub client_app: App,
    pub server: Server,
    pub observed: Arc<Observed>,
}

pub async fn setup() -> Setup {
    let node = node();
    let server_app = app(&node, "server").await;
    let client_app = app(&node, "client").await;
    let observed = Arc::new(Observed::default());
    let server = test_server(observed.clone());
    {
        let (server, app) = (server.clone(), server_app.clone());
        tokio::spawn(async move { server.serve(app).await });
    }
    Setup {
        node,
        server_app,
        client_app,
        server,
        observed,
    }
}
