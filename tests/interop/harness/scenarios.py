"""The interop scenarios: which role apps to start, in what order, and what must come out.

Each scenario gets a fresh shared secret and a fresh namespace (`interop/<tag>/<app>`) so
scenarios never see each other's subscriptions on a shared node. A scenario returns a dict
of metrics for the report, or raises `ScenarioFailure` with the reason.

  p2p     (a) reliable P2P session, MLS on, >= 1000 messages each way, in order
  group   (b) moderator + 3 members, MLS on, everyone publishes, everyone receives all
  remove  (c) a member removed mid-stream gets nothing after removal; the others get all
  rpc     (d) SLIM RPC: unary, concurrent unary, server/client/bidi streaming, error status
  link    (e) an upstream node linked (client, peer) to another node; P2P both ways and a
              group spanning both nodes
  ff      (f) fire-and-forget P2P with MLS, all messages echoed in order
  large   (g) reliable P2P with MLS and 64 KiB / 1 MiB messages
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import nodes
from .procs import Proc, Procs, ScenarioFailure


@dataclass
class Settings:
    python: str
    apps_dir: Path
    node: str | None  # endpoint of the node under test
    other_node: str | None  # for `link`: the node the upstream node links to
    upstream_bin: str | None
    other_node_cmd: list[str] | None = None  # command starting the node to link to
    role_cmds: dict[str, list[str]] = field(default_factory=dict)  # role -> replacement argv
    # Upstream apps check that a peer's name id derives from its identity and that control
    # payloads are signed; "enforce" rejects a mismatch (upstream's default only warns).
    identity_binding: str = "enforce"
    p2p_count: int = 1000
    group_count: int = 100
    member_count: int = 20
    rpc_stream: int = 1000
    deadline: float = 90.0  # per role app


@dataclass
class Run:
    """One scenario run: its processes, secret, names and settings."""

    settings: Settings
    procs: Procs
    tag: str = field(default_factory=lambda: "s" + secrets.token_hex(4))
    secret: str = field(default_factory=lambda: secrets.token_hex(24))  # 48 bytes

    def name(self, app: str) -> str:
        return f"interop/{self.tag}/{app}"

    def app(self, label: str, script: str, node: str, app: str, *args: Any) -> Proc:
        """Start a role app. `--role ROLE=CMD` on the runner replaces the upstream Python
        app by any command that honours the same arguments and JSON events."""
        role = script.removesuffix(".py")
        command = self.settings.role_cmds.get(role) or [
            self.settings.python, str(self.settings.apps_dir / script)]
        argv = [*command, "--node", node, "--secret", self.secret, "--name", self.name(app),
                "--deadline", str(self.settings.deadline), *map(str, args)]
        env = dict(os.environ, SLIM_IDENTITY_BINDING=self.settings.identity_binding)
        return self.procs.start(label, argv, env=env)


def check(condition: bool, message: str) -> None:
    if not condition:
        raise ScenarioFailure(message)


READY_TIMEOUT = 30.0


# -- (a) P2P ----------------------------------------------------------------------------
def p2p_pair(run: Run, initiator_node: str, responder_node: str, count: int,
             label: str = "", reliable: bool = True, payload_size: int = 64) -> dict[str, Any]:
    """Responder echoes every message; both sides check completeness and order."""
    responder = run.app(f"{label}responder", "p2p_responder.py", responder_node, "bob",
                        "--count", count, "--echo", "publish", "--expect-mls", "on")
    responder.wait_event("ready", READY_TIMEOUT)
    extra = ([] if reliable else ["--unreliable"]) + ["--payload-size", payload_size]
    initiator = run.app(f"{label}initiator", "p2p_initiator.py", initiator_node, "alice",
                        "--peer", run.name("bob"), "--count", count, "--echo", *extra)
    ini = initiator.result(run.settings.deadline + 10)
    resp = responder.result(run.settings.deadline + 10)
    session = initiator.wait_event("session", 1)
    check(session["mls"] and session["reliable"] == reliable,
          f"initiator session: mls={session['mls']} reliable={session['reliable']}")
    check(ini["echoes"] == count and ini["in_order"],
          f"initiator got {ini['echoes']}/{count} echoes, in_order={ini['in_order']}")
    check(resp["count"] == count and resp["in_order"],
          f"responder got {resp['count']}/{count}, in_order={resp['in_order']}")
    check(resp["senders"] == [run.name("alice")], f"unexpected senders {resp['senders']}")
    echoes = initiator.wait_event("echoes", 1)
    published = initiator.wait_event("published", 1)
    return {"messages": count, "setup_s": session["setup_s"],
            "publish_s": published["elapsed_s"], "echo_all_s": echoes["elapsed_s"],
            "echo_p50_ms": echoes.get("p50_ms"), "echo_p99_ms": echoes.get("p99_ms"),
            "responder_closed_by_peer": resp["closed_by_peer"]}


def scenario_p2p(run: Run) -> dict[str, Any]:
    node = _node(run)
    return p2p_pair(run, node, node, run.settings.p2p_count)


def scenario_ff(run: Run) -> dict[str, Any]:
    """Fire-and-forget P2P (no MsgAck/RTX on the wire), MLS on: all delivered, in order."""
    node = _node(run)
    return p2p_pair(run, node, node, run.settings.p2p_count, reliable=False)


def scenario_large(run: Run) -> dict[str, Any]:
    """Reliable P2P with MLS and big messages: 100 x 64 KiB, then 4 x 1 MiB, echoed."""
    node = _node(run)
    medium = p2p_pair(run, node, node, 100, label="64k_", payload_size=64 * 1024)
    run.tag = "s" + secrets.token_hex(4)
    big = p2p_pair(run, node, node, 4, label="1m_", payload_size=1024 * 1024)
    return {"64KiB_x100_echo_all_s": medium["echo_all_s"], "1MiB_x4_echo_all_s": big["echo_all_s"]}


# -- (b) group ----------------------------------------------------------------------------
def group_all_publish(run: Run, moderator_node: str, member_nodes: list[str],
                      label: str = "") -> dict[str, Any]:
    s = run.settings
    members = [f"member{i + 1}" for i in range(len(member_nodes))]
    m, k = s.group_count, s.member_count
    expect_member = m + k * (len(members) - 1)
    procs = {}
    for member, node in zip(members, member_nodes):
        procs[member] = run.app(f"{label}{member}", "group_member.py", node, member,
                                "--expect", expect_member, "--publish", k)
    for proc in procs.values():
        proc.wait_event("ready", READY_TIMEOUT)
    moderator = run.app(f"{label}moderator", "group_moderator.py", moderator_node, "moderator",
                        "--channel", run.name("channel"),
                        "--members", ",".join(run.name(x) for x in members),
                        "--count", m, "--expect", k * len(members))
    mod = moderator.result(s.deadline + 10)
    results = {member: proc.result(s.deadline + 10) for member, proc in procs.items()}

    for member, res in results.items():
        session = procs[member].wait_event("session", 1)
        check(session["mls"], f"{member}: session without MLS")
        check(not res["removed"], f"{member} was closed before receiving everything")
        check(res["count"] == expect_member and res["in_order"],
              f"{member} got {res['count']}/{expect_member}, in_order={res['in_order']}")
        expected = {run.name("moderator"): m}
        expected.update({run.name(x): k for x in members if x != member})
        got = {sender: v["count"] for sender, v in res["per_sender"].items()}
        check(got == expected, f"{member} per-sender counts {got} != {expected}")
    got = {sender: v["count"] for sender, v in mod["received"]["per_sender"].items()}
    check(got == {run.name(x): k for x in members}, f"moderator per-sender counts {got}")
    invites = moderator.all("invited")
    published = moderator.wait_event("published", 1)
    return {"members": len(members), "moderator_msgs": m, "member_msgs": k,
            "invite_s": [e["elapsed_s"] for e in invites], "publish_s": published["elapsed_s"],
            "total_s": mod["elapsed_s"]}


def scenario_group(run: Run) -> dict[str, Any]:
    node = _node(run)
    return group_all_publish(run, node, [node, node, node])


# -- (c) removal --------------------------------------------------------------------------
def scenario_remove(run: Run) -> dict[str, Any]:
    s, node = run.settings, _node(run)
    before = after = s.group_count // 2
    members = ["member1", "member2", "member3"]
    victim = "member3"
    procs = {}
    for member in members:
        extra = ["--expect-removal"] if member == victim else []
        procs[member] = run.app(member, "group_member.py", node, member,
                                "--expect", before + after, "--checkpoint", before, *extra)
    for proc in procs.values():
        proc.wait_event("ready", READY_TIMEOUT)
    moderator = run.app("moderator", "group_moderator.py", node, "moderator",
                        "--channel", run.name("channel"),
                        "--members", ",".join(run.name(x) for x in members),
                        "--count", before, "--remove", run.name(victim), "--count-after", after)
    moderator.result(s.deadline + 10)
    results = {member: proc.result(s.deadline + 10) for member, proc in procs.items()}

    mod_name = run.name("moderator")
    gone = results[victim]
    seen = gone["per_sender"].get(mod_name, {})
    check(gone["removed"], f"{victim} was not removed: {gone}")
    check(gone["count"] == before and seen.get("last") == before - 1 and seen.get("in_order"),
          f"{victim} should have exactly messages 0..{before - 1}, got {seen}")
    for member in members:
        if member == victim:
            continue
        res = results[member]
        got = res["per_sender"].get(mod_name, {})
        check(not res["removed"] and res["count"] == before + after and got.get("in_order"),
              f"{member} should have all {before + after} messages, got {got}")
    roster = [e["list"] for e in moderator.all("participants")][-1]
    check(all(p["name"] != run.name(victim) for p in roster),
          f"{victim} still in the roster after removal: {roster}")
    removed = moderator.wait_event("removed", 1)
    return {"before": before, "after": after, "remove_s": removed["elapsed_s"],
            "victim_received": gone["count"]}


# -- (d) RPC ------------------------------------------------------------------------------
def scenario_rpc(run: Run) -> dict[str, Any]:
    s, node = run.settings, _node(run)
    server = run.app("rpc_server", "rpc_server.py", node, "rpcserver")
    server.wait_event("ready", READY_TIMEOUT)
    client = run.app("rpc_client", "rpc_client.py", node, "rpcclient",
                     "--server", run.name("rpcserver"), "--unary", 20, "--concurrent", 20,
                     "--stream", s.rpc_stream, "--client-stream", 100, "--bidi", 100)
    res = client.result(s.deadline + 10)
    check(res["ok"], f"client checks failed: {res}")
    server.stop()  # SIGTERM: the server reports its call counts and exits
    served = server.result(5)
    expected = {"Say": 40, "Count": 1, "Sum": 1, "Chat": 1, "Fail": 1}
    check(served["calls"] == expected, f"server saw {served['calls']}, expected {expected}")
    first_say = server.wait_event("call", 1, lambda e: e["method"] == "Say")
    check(first_say["metadata"].get("x-interop") == "slim-rs",
          f"caller metadata did not reach the server: {first_say['metadata']}")
    remaining = first_say.get("deadline_remaining_s")
    check(remaining is not None and 0 < remaining <= 30.5,
          f"server-side deadline {remaining} s does not match the 30 s call timeout")
    unary, stream = client.wait_event("unary", 1), client.wait_event("stream", 1)
    return {"unary_first_ms": unary["first_call_ms"], "unary_p50_ms": unary["p50_ms"],
            "unary_p99_ms": unary["p99_ms"], "stream_items": stream["items"],
            "stream_items_per_s": stream["items_per_s"]}


# -- (e) two nodes over a link ------------------------------------------------------------
def scenario_link(run: Run) -> dict[str, Any]:
    s = run.settings
    if not s.upstream_bin:
        raise ScenarioFailure("the link scenario needs the upstream binary (--upstream-bin "
                              "or SLIM_UPSTREAM_BIN)")
    other = s.other_node
    self_check = other is None and not s.other_node_cmd
    if s.other_node_cmd:
        other = nodes.start_command(run.procs, "node_other", s.other_node_cmd, other).endpoint
    elif self_check:  # no node given to link to: validate against a second upstream node
        other = nodes.start_upstream(run.procs, s.upstream_bin, "node_other", "node-other").endpoint
    linked = nodes.start_upstream(run.procs, s.upstream_bin, "node_linked", "node-linked",
                                  link_to=other)
    a, b = linked.endpoint, other
    forward = p2p_pair(run, a, b, 100, label="ab_")
    run.tag = "s" + secrets.token_hex(4)  # fresh names for the second pair
    backward = p2p_pair(run, b, a, 100, label="ba_")
    run.tag = "s" + secrets.token_hex(4)
    group = group_all_publish(run, a, [a, b, b], label="grp_")
    return {"other_node": "upstream (self-check)" if self_check else other,
            "linked_node_config": str(linked.config_path),
            "p2p_upstream_to_other_setup_s": forward["setup_s"],
            "p2p_other_to_upstream_setup_s": backward["setup_s"],
            "group_total_s": group["total_s"]}


def _node(run: Run) -> str:
    if run.settings.node is None:
        raise ScenarioFailure("no node endpoint: pass --node URL or --start-node")
    return run.settings.node


SCENARIOS: dict[str, tuple[str, Callable[[Run], dict[str, Any]]]] = {
    "p2p": ("a", scenario_p2p),
    "group": ("b", scenario_group),
    "remove": ("c", scenario_remove),
    "rpc": ("d", scenario_rpc),
    "link": ("e", scenario_link),
    "ff": ("f", scenario_ff),
    "large": ("g", scenario_large),
}
