//! The command line: version, configuration errors, the no-argument default node, graceful
//! shutdown on SIGTERM, and the `runtime.idle_spin` and `runtime.cpu_idle_poll` latency aids.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use slim_client::dataplane::{DataPlaneClient, Inbox};
use slim_testkit::NodeSpec;
use slim_testkit::clients::{connect, name};

#[test]
fn version_flags() {
    for flag in ["--version", "-v"] {
        let output = Command::new(SLIM).arg(flag).output().unwrap();
        assert!(output.status.success());
        let text = String::from_utf8(output.stdout).unwrap();
        assert_eq!(text.trim(), format!("slim {}", env!("CARGO_PKG_VERSION")));
    }
}

#[test]
fn configuration_errors_name_the_key_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "services:\n  slim/0:\n    dataplane:\n      servers:\n        - endpoint: 'localhost:http'\n",
    )
    .unwrap();
    let output = Command::new(SLIM).arg("-c").arg(&path).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("services.slim/0.dataplane.servers[0].endpoint: invalid port \"http\""),
        "{stderr}"
    );
    // The CONFIG environment variable works like --config.
    let output = Command::new(SLIM).env("CONFIG", &path).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn without_arguments_a_node_listens_on_the_default_port() {
    // Another process (or test run) may hold the default port; then this cannot be checked.
    if std::net::TcpListener::bind("127.0.0.1:46357").is_err() {
        eprintln!("127.0.0.1:46357 is busy; skipping the default-port check");
        return;
    }
    let mut child = Command::new(SLIM)
        .env_remove("CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let line = rx.recv_timeout(Duration::from_secs(30));
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(line.unwrap(), "slim listening on http://127.0.0.1:46357");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_shuts_down_gracefully_with_links_open() {
    let peer = start(NodeSpec::new("peer"));
    let mut node = start(NodeSpec::new("node").link_to(peer.endpoint()));
    let (_client, _inbox) = connect(node.endpoint(), &name("app", Some(1)))
        .await
        .unwrap();
    let status = tokio::task::spawn_blocking(move || node.terminate(Duration::from_secs(15)))
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
}

/// A publisher and a subscribed receiver (`receiver/1`) on `endpoint`, and the receiver's
/// inbox. Keep the receiver: its link closes with its last handle.
#[allow(clippy::unwrap_used)] // a test helper: a failure is the test's failure
async fn sender_and_receiver(endpoint: &str) -> (DataPlaneClient, DataPlaneClient, Inbox) {
    let (sender, _) = connect(endpoint, &name("sender", Some(1))).await.unwrap();
    let (receiver, inbox) = connect(endpoint, &name("receiver", Some(1))).await.unwrap();
    subscribe(&receiver, &name("receiver", Some(1))).await;
    (sender, receiver, inbox)
}

/// Scheduling policy and state of the node's idle-spin threads, from /proc.
#[allow(clippy::unwrap_used)] // a test helper: a failure is the test's failure
fn spinner_threads(pid: u32) -> Vec<(String, String)> {
    let mut threads = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let path = task.unwrap().path();
        let (Ok(name), Ok(stat)) = (
            std::fs::read_to_string(path.join("comm")),
            std::fs::read_to_string(path.join("stat")),
        ) else {
            continue; // the thread exited meanwhile
        };
        if name.starts_with("slim-spin-") {
            // Fields after the parenthesised name start at field 3 (state); policy is 41.
            let fields: Vec<&str> = stat
                .rsplit_once(')')
                .unwrap()
                .1
                .split_whitespace()
                .collect();
            threads.push((fields[0].to_owned(), fields[41 - 3].to_owned()));
        }
    }
    threads
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_spin_routes_with_idle_priority_spinners_that_sleep_when_quiet() {
    const SCHED_IDLE: &str = "5";
    let mut spec = NodeSpec::new("spinning");
    spec.runtime.push("idle_spin: 2ms".into());
    let node = start(spec);
    let pid = node.pid().unwrap();
    let cpus = slim_node::idle_spin::allowed_cpus().unwrap().len();
    let spinners = spinner_threads(pid);
    assert_eq!(spinners.len(), cpus, "one spinner per CPU: {spinners:?}");
    assert!(
        spinners.iter().all(|(_, policy)| policy == SCHED_IDLE),
        "{spinners:?}"
    );

    let (sender, _receiver, mut inbox) = sender_and_receiver(node.endpoint()).await;
    publish_n(&sender, &name("receiver", Some(1)), 1, "spin", 100).await;
    assert_eq!(expect_n(&mut inbox, "spin", 100).await.len(), 100);

    // Quiet (apart from the odd keepalive): every spinner is seen asleep ("S") within a
    // deadline, i.e. an idle node does not burn its CPUs.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let states = spinner_threads(pid);
        if states.iter().all(|(state, _)| state == "S") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still spinning: {states:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The machine's CPU latency limit in µs, or why it cannot be read here.
fn cpu_latency_limit() -> std::io::Result<i32> {
    use std::io::Read;
    let mut bytes = [0u8; 4];
    std::fs::File::open(slim_node::cpu_idle_poll::CPU_LATENCY_FILE)?.read_exact(&mut bytes)?;
    Ok(i32::from_ne_bytes(bytes))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_idle_poll_holds_a_zero_latency_limit_only_while_traffic_flows() {
    let before = match cpu_latency_limit() {
        Ok(limit) => limit,
        // Needs root; CI runs as root, a developer's account may not.
        Err(error) => {
            eprintln!("cannot read the CPU latency limit ({error}); skipping");
            return;
        }
    };
    assert_ne!(
        before, 0,
        "another process already holds a 0 µs CPU latency limit, so this cannot be observed"
    );
    let mut spec = NodeSpec::new("polling");
    spec.runtime.push("cpu_idle_poll: 2s".into());
    let node = start(spec);
    let (sender, _receiver, mut inbox) = sender_and_receiver(node.endpoint()).await;

    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut round = 0;
    while cpu_latency_limit().unwrap() != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no 0 µs limit while routing"
        );
        let tag = format!("poll{round}");
        publish_n(&sender, &name("receiver", Some(1)), 1, &tag, 10).await;
        assert_eq!(expect_n(&mut inbox, &tag, 10).await.len(), 10);
        round += 1;
    }

    // Quiet: the node gives the limit back within a couple of windows.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while cpu_latency_limit().unwrap() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the 0 µs limit outlived the traffic"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(cpu_latency_limit().unwrap(), before);
}
