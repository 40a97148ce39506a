//! Shared by the process tests: the `slim` node binary, nodes and applications.
//!
//! The node binary belongs to another package (`slim-node`), so cargo does not hand its
//! path to these tests: `slim_testkit::slim_node_binary` finds it (`$SLIM_NODE_BIN`, or
//! `target/<profile>/slim`, which `cargo build --workspace` produces first in
//! `scripts/test.sh`). A missing binary fails the test with the command that builds it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use slim_client::{App, AppConfig, Name};
use slim_testkit::{NodeProcess, NodeSpec};

/// A shared secret for every application of a test.
pub const SECRET: &str = "process-test-secret-of-at-least-32-bytes";

/// Generous bound on waits that should take milliseconds (CI machines are slow).
pub const DEADLINE: Duration = Duration::from_secs(60);

/// Logs of the code under test, on `RUST_LOG` (for example
/// `RUST_LOG=slim_session=debug,slim_client=debug`), captured per test.
pub fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// A node on a free loopback port (info logs, to keep the log file small).
pub fn node() -> NodeProcess {
    logs();
    let mut spec = NodeSpec::new("client-tests");
    spec.log_level = "info".into();
    NodeProcess::start(slim_testkit::slim_node_binary(), spec).expect("node starts")
}

/// `org/ns/<service>`.
pub fn name(service: &str) -> Name {
    Name::new("org", "ns", service).expect("valid test name")
}

/// Test settings: fast redial.
pub fn config(endpoint: &str) -> AppConfig {
    let mut config = AppConfig::new(endpoint);
    config.link.backoff = slim_transport::config::BackoffConfig::Fixed {
        interval: Duration::from_millis(100),
        max_attempts: None,
    };
    config
}

/// An application `org/ns/<service>` on `node`.
pub async fn app(node: &NodeProcess, service: &str) -> App {
    app_with(node, service, |_| {}).await
}

/// An application with adjusted settings.
pub async fn app_with(
    node: &NodeProcess,
    service: &str,
    change: impl FnOnce(&mut AppConfig),
) -> App {
    let mut config = config(node.endpoint());
    change(&mut config);
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
