//! `slim-app` roles against each other through a real `slim` node (no Python needed): the
//! JSON events of the interop role contract come out, and the roles' own checks pass.
//! The mixed runs with upstream's apps are in `interop.sh` next to this file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use slim_testkit::{NodeProcess, NodeSpec};

const APP: &str = env!("CARGO_BIN_EXE_slim-app");
const SECRET: &str = "slim-app-role-tests-secret-of-32-bytes-or-more";
const WAIT: Duration = Duration::from_secs(90);

fn node() -> NodeProcess {
    let mut spec = NodeSpec::new("slim-app-tests");
    spec.log_level = "info".into();
    NodeProcess::start(slim_testkit::slim_node_binary(), spec).unwrap()
}

/// A role process whose stdout events are collected as they come.
struct Role {
    child: Child,
    events: mpsc::Receiver<Value>,
    seen: Vec<Value>,
    label: String,
}

impl Role {
    fn start(label: &str, node: &NodeProcess, name: &str, args: &[&str]) -> Role {
        let mut child = Command::new(APP)
            .args(args)
            .args([
                "--node",
                node.endpoint(),
                "--secret",
                SECRET,
                "--name",
                name,
            ])
            .args(["--deadline", "80"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, events) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let event: Value = serde_json::from_str(&line).expect("stdout is JSON lines");
                let _ = tx.send(event);
            }
        });
        Role {
            child,
            events,
            seen: Vec::new(),
            label: label.into(),
        }
    }

    /// Waits for event `name` (failing on an `error` event or the deadline).
    fn wait(&mut self, name: &str) -> Value {
        if let Some(found) = self.seen.iter().find(|e| e["event"] == name) {
            return found.clone();
        }
        let end = Instant::now() + WAIT;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let event = self
                .events
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("{}: no {name} event; saw {:?}", self.label, self.seen));
            assert_ne!(event["event"], "error", "{}: {event}", self.label);
            self.seen.push(event.clone());
            if event["event"] == name {
                return event;
            }
        }
    }

    /// Waits for `done` and a zero exit code.
    fn done(mut self) -> Value {
        let done = self.wait("done");
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{} exited with {status}", self.label);
        done
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn p2p_initiator_and_responder_exchange_and_echo_with_mls() {
    let node = node();
    let mut responder = Role::start(
        "responder",
        &node,
        "org/roles/bob",
        &[
            "p2p-responder",
            "--count",
            "300",
            "--echo",
            "publish",
            "--expect-mls",
            "on",
            "--quiet",
        ],
    );
    responder.wait("ready");
    let mut initiator = Role::start(
        "initiator",
        &node,
        "org/roles/alice",
        &[
            "p2p-initiator",
            "--peer",
            "org/roles/bob",
            "--count",
            "300",
            "--echo",
        ],
    );
    let session = initiator.wait("session");
    assert_eq!(session["mls"], true);
    assert_eq!(session["reliable"], true);
    let echoes = initiator.wait("echoes");
    assert!(echoes["p50_ms"].is_number());
    let done = initiator.done();
    assert_eq!(done["echoes"], 300);
    assert_eq!(done["in_order"], true);
    let done = responder.done();
    assert_eq!(done["count"], 300);
    assert_eq!(done["in_order"], true);
    assert_eq!(done["senders"], serde_json::json!(["org/roles/alice"]));
    assert_eq!(done["closed_by_peer"], true);
}

#[test]
fn group_moderator_and_members_with_a_removal() {
    let node = node();
    let mut members = Vec::new();
    for (i, extra) in [(1, None), (2, None), (3, Some("--expect-removal"))] {
        let name = format!("org/roles/member{i}");
        let mut args = vec![
            "group-member",
            "--expect",
            "60",
            "--checkpoint",
            "30",
            "--quiet",
        ];
        args.extend(extra);
        let mut role = Role::start(&format!("member{i}"), &node, &name, &args);
        role.wait("ready");
        members.push(role);
    }
    let mut moderator = Role::start(
        "moderator",
        &node,
        "org/roles/moderator",
        &[
            "group-moderator",
            "--channel",
            "org/roles/chat",
            "--members",
            "org/roles/member1,org/roles/member2,org/roles/member3",
            "--count",
            "30",
            "--remove",
            "org/roles/member3",
            "--count-after",
            "30",
        ],
    );
    let removed = moderator.wait("removed");
    assert_eq!(removed["member"], "org/roles/member3");
    let done = moderator.done();
    assert_eq!(done["published"], 60);
    for (i, member) in members.into_iter().enumerate() {
        let done = member.done();
        let from_moderator = &done["per_sender"]["org/roles/moderator"];
        if i == 2 {
            assert_eq!(done["removed"], true);
            assert_eq!(from_moderator["count"], 30, "member3 got phase 1 only");
        } else {
            assert_eq!(done["removed"], false);
            assert_eq!(from_moderator["count"], 60);
            assert_eq!(from_moderator["in_order"], true);
        }
    }
}

#[test]
fn rpc_client_checks_every_pattern_against_the_rpc_server() {
    let node = node();
    let mut server = Role::start(
        "rpc server",
        &node,
        "org/roles/rpcserver",
        &["rpc-server", "--report-each"],
    );
    server.wait("ready");
    let mut client = Role::start(
        "rpc client",
        &node,
        "org/roles/rpcclient",
        &[
            "rpc-client",
            "--server",
            "org/roles/rpcserver",
            "--unary",
            "5",
            "--concurrent",
            "10",
            "--stream",
            "1000",
            "--client-stream",
            "20",
            "--bidi",
            "30",
            "--fail-code",
            "9",
            "--call-timeout",
            "30",
        ],
    );
    let unary = client.wait("unary");
    assert!(unary["p50_ms"].is_number(), "{unary}");
    assert_eq!(client.wait("stream")["items"], 1000);
    assert_eq!(client.wait("fail")["code"], "FAILED_PRECONDITION");
    let done = client.done();
    assert_eq!(done["ok"], true);

    let say = server.wait("call");
    assert_eq!(say["metadata"]["x-interop"], "slim-rs", "{say}");
    let remaining = say["deadline_remaining_s"].as_f64().unwrap();
    assert!(remaining > 0.0 && remaining <= 30.5, "{say}");
    // SIGTERM: the server reports its calls per method and exits cleanly.
    let terminated = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    let done = server.done();
    assert_eq!(
        done["calls"],
        serde_json::json!({"Say": 15, "Count": 1, "Sum": 1, "Chat": 1, "Fail": 1})
    );
}
