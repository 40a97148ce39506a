//! Shared by the process tests: the `slim` node binary, nodes and applications.
//!
//! The node binary belongs to another package (`slim-node`), so cargo does not hand its
//! path to these tests: `slim_testkit::slim_node_binary` finds it (`$SLIM_NODE_BIN`, or
//! `target/<profile>/slim`, which `cargo build --workspace` produces first in
//! `scripts/test.sh`). A missing binary fails the test with the command that builds it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::Duration;

use slim_client::{App, AppConfig, Name, Session};
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

/// `"<sender service>:<n>"`: a group message that names its sender.
pub fn tagged(app: &App, n: u32) -> String {
    format!("{}:{n}", app.name().components().unwrap()[2])
}

/// Reads `total` [`tagged`] messages; returns the numbers per sender service, checking that
/// each payload names its sender on the wire.
pub async fn collect(session: &Session, total: usize) -> HashMap<String, Vec<u32>> {
    let mut by_sender: HashMap<String, Vec<u32>> = HashMap::new();
    for _ in 0..total {
        let message = session.recv().await.expect("open").expect("nothing lost");
        let text = std::str::from_utf8(&message.payload).unwrap().to_owned();
        let (sender, n) = text.split_once(':').unwrap();
        assert_eq!(
            message.context.source.components().unwrap()[2],
            sender,
            "payload names its wire sender"
        );
        by_sender
            .entry(sender.to_owned())
            .or_default()
            .push(n.parse().unwrap());
    }
    by_sender
}

/// Every member of a group publishes `each` reliable messages at once and reads everyone
/// else's: each gets exactly the others' messages, in order per sender, never its own, and
/// every publish is acknowledged by every member.
pub async fn everyone_publishes(everyone: &[(App, Session)], each: u32) {
    let others = everyone.len() - 1;
    let mut tasks = Vec::new();
    for (app, session) in everyone {
        let (app, session) = (app.clone(), session.clone());
        tasks.push(tokio::spawn(async move {
            let reader = {
                let session = session.clone();
                tokio::spawn(async move { collect(&session, others * each as usize).await })
            };
            let mut completions = Vec::new();
            for n in 0..each {
                completions.push(session.publish(tagged(&app, n)).await.unwrap());
            }
            for completion in completions {
                completion.await.expect("every member acknowledged");
            }
            (app.name().clone(), reader.await.unwrap())
        }));
    }
    for task in tasks {
        let (me, got) = within("traffic", task).await.unwrap();
        let mine = me.components().unwrap()[2].to_owned();
        assert_eq!(got.len(), others, "{me}: senders {:?}", got.keys());
        assert!(
            !got.contains_key(&mine),
            "{me} does not get its own messages"
        );
        for (sender, numbers) in got {
            assert_eq!(numbers, (0..each).collect::<Vec<_>>(), "{me} from {sender}");
        }
    }
}

/// Reads `count` messages and returns their payloads as numbers (panics on a loss).
pub async fn read_numbers(session: &Session, count: usize) -> Vec<u32> {
    let mut numbers = Vec::with_capacity(count);
    while numbers.len() < count {
        let delivery = session.recv().await.expect("session open");
        let message = delivery.expect("no message lost");
        let text = std::str::from_utf8(&message.payload).unwrap();
        numbers.push(text.parse().unwrap());
    }
    numbers
}

/// The moderator streams 50 messages, the node restarts (forgetting every subscription), the
/// moderator streams 50 more: every member gets all 100 in order, and every publish after
/// the restart is acknowledged (the applications redial and restore their names and the
/// group's channel; retransmissions carry what was sent meanwhile).
pub async fn group_rides_out_a_restart(
    node: &mut NodeProcess,
    moderator: &App,
    group: &Session,
    members: &[Session],
) {
    for n in 0..50u32 {
        group.publish(tagged(moderator, n)).await.unwrap();
    }
    for session in members {
        let got = within("before", collect(session, 50)).await;
        assert_eq!(got["moderator"], (0..50).collect::<Vec<_>>());
    }
    node.restart().expect("node restarts on the same port");
    let mut completions = Vec::new();
    for n in 50..100u32 {
        completions.push(group.publish(tagged(moderator, n)).await.unwrap());
    }
    for session in members {
        let got = within("after", collect(session, 50)).await;
        assert_eq!(got["moderator"], (50..100).collect::<Vec<_>>());
    }
    for completion in completions {
        within("acknowledged", completion).await.unwrap();
    }
}
