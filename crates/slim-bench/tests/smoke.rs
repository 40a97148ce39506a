//! CI smoke of `slim-bench`: each scenario against a freshly started node for about a second,
//! checking that messages were delivered and that the last line is a valid JSON report. No
//! figure is checked: timing on a shared CI machine means nothing.

// Tests may unwrap (clippy.toml); helpers outside #[test] functions need saying so.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;

use slim_node::Node;
use slim_node::config::ServiceConfig;
use slim_transport::ServerConfig;

/// Runs `slim-bench` with `args` and returns its JSON report (the last stdout line).
fn bench(args: &[&str]) -> serde_json::Value {
    let output = Command::new(env!("CARGO_BIN_EXE_slim-bench"))
        .args(args)
        .arg("--no-progress")
        .output()
        .expect("slim-bench runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "slim-bench {args:?} failed: {}\nstdout: {stdout}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let last = stdout.lines().last().expect("some output");
    serde_json::from_str(last).unwrap_or_else(|e| panic!("last line is not JSON ({e}): {last}"))
}

fn delivered(report: &serde_json::Value) -> u64 {
    report["delivered"].as_u64().expect("delivered is a number")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_delivers_and_reports_json() {
    let mut service = ServiceConfig::default();
    service.dataplane.servers = vec![ServerConfig::with_endpoint("127.0.0.1:0")];
    let node = Node::start("slim/0", &service).await.expect("node starts");
    let endpoint = node.endpoints()[0].clone();
    let pid = std::process::id().to_string();

    let runs = tokio::task::spawn_blocking(move || {
        let common = [
            "-e",
            endpoint.as_str(),
            "-d",
            "1s",
            "--warmup",
            "100",
            "--node-pid",
            pid.as_str(),
            "--label",
            "smoke",
            // Delivery is complete long before; a loaded CI machine must not make it "lost".
            "--drain-timeout",
            "30s",
        ];
        let with =
            |scenario: &[&str]| -> serde_json::Value { bench(&[scenario, &common[..]].concat()) };
        vec![
            with(&["pubsub", "--pub", "2", "--sub", "2", "-s", "64"]),
            with(&["rtt", "-s", "1k"]),
            with(&[
                "fanout",
                "--sub",
                "3",
                "--idle-clients",
                "5",
                "--extra-subscriptions",
                "100",
            ]),
            with(&[
                "rpc",
                "--calls",
                "200",
                "--concurrency",
                "4",
                "--items",
                "2000",
                "--warmup-calls",
                "10",
            ]),
        ]
    })
    .await
    .expect("runs finish");

    let [pubsub, rtt, fanout, rpc] = &runs[..] else {
        panic!("four reports")
    };
    assert_eq!(pubsub["scenario"], "pubsub");
    assert_eq!(pubsub["label"], "smoke");
    assert!(delivered(pubsub) > 0, "{pubsub}");
    assert_eq!(pubsub["lost"], 0, "{pubsub}");

    assert_eq!(rtt["scenario"], "rtt");
    assert!(delivered(rtt) > 0, "{rtt}");
    assert!(rtt["latency_us"]["p50"].as_f64().is_some(), "{rtt}");

    assert_eq!(fanout["scenario"], "fanout");
    assert_eq!(fanout["subscribers"], 3);
    assert_eq!(fanout["expected"], fanout["sent"].as_u64().unwrap() * 3);
    assert!(delivered(fanout) > 0, "{fanout}");
    assert!(
        fanout["node_memory"]["loaded_kib"].as_u64().is_some(),
        "{fanout}"
    );

    assert_eq!(rpc["scenario"], "rpc");
    assert_eq!(rpc["rpc"]["unary_calls"], 200, "{rpc}");
    assert_eq!(rpc["rpc"]["stream_items"], 2000, "{rpc}");
    assert!(rpc["latency_us"]["p50"].as_f64().is_some(), "{rpc}");

    node.shutdown(Duration::from_secs(2)).await;
}
