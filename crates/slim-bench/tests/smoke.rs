//! CI smoke of `slim-bench`: each scenario (and each pattern of `session`) against a freshly started node for about a second,
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
            with(&["session", "--pattern", "rtt", "--mls"]),
            with(&["session", "--pattern", "throughput"]),
            with(&["session", "--pattern", "fanout", "--members", "3"]),
            with(&[
                "session",
                "--pattern",
                "fanout",
                "--members",
                "3",
                "--shared-connection",
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

    let [
        pubsub,
        rtt,
        fanout,
        session_rtt,
        throughput,
        group,
        shared,
        rpc,
    ] = &runs[..]
    else {
        panic!("eight reports")
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

    assert_eq!(session_rtt["scenario"], "session");
    assert_eq!(session_rtt["session"]["pattern"], "rtt");
    assert_eq!(session_rtt["session"]["mls"], true);
    assert!(delivered(session_rtt) > 0, "{session_rtt}");
    assert!(
        session_rtt["latency_us"]["p50"].as_f64().is_some(),
        "{session_rtt}"
    );

    // Reliable 1 → 1: everything delivered, in order, every completion Ok (warm-up included).
    assert_eq!(throughput["session"]["reliable"], true, "{throughput}");
    assert!(delivered(throughput) > 0, "{throughput}");
    assert_eq!(throughput["lost"], 0, "{throughput}");
    assert_eq!(throughput["session"]["out_of_order"], 0, "{throughput}");
    assert_eq!(
        throughput["session"]["completions_failed"], 0,
        "{throughput}"
    );
    assert!(
        throughput["session"]["completions_ok"].as_u64().unwrap()
            >= throughput["sent"].as_u64().unwrap(),
        "{throughput}"
    );

    // Group fan-out, fire-and-forget: every member receives, nothing out of order.
    assert_eq!(group["subscribers"], 3, "{group}");
    assert_eq!(group["session"]["reliable"], false, "{group}");
    assert_eq!(group["expected"], group["sent"].as_u64().unwrap() * 3);
    assert!(delivered(group) > 0, "{group}");
    assert_eq!(group["session"]["out_of_order"], 0, "{group}");
    // The same with the members sharing one connection: the node sends each message once
    // and the connection hands out the three copies.
    assert_eq!(shared["session"]["shared_connection"], true, "{shared}");
    assert_eq!(shared["expected"], shared["sent"].as_u64().unwrap() * 3);
    assert!(delivered(shared) > 0, "{shared}");
    assert_eq!(shared["session"]["out_of_order"], 0, "{shared}");

    // RPC: every unary call and every streamed item.
    assert_eq!(rpc["scenario"], "rpc");
    assert_eq!(rpc["rpc"]["unary_calls"], 200, "{rpc}");
    assert_eq!(rpc["rpc"]["stream_items"], 2000, "{rpc}");
    assert!(rpc["latency_us"]["p50"].as_f64().is_some(), "{rpc}");

    node.shutdown(Duration::from_secs(2)).await;
}
