#!/usr/bin/env python3
"""Interoperability scenarios against any SLIM node, driven with upstream's Python package.

  run.py --node http://127.0.0.1:46357                 # a-d, f, g against a running node
  run.py --node URL p2p rpc                            # only some scenarios (names or letters)
  run.py --start-node upstream --upstream-bin PATH     # start upstream's node and use it
  run.py --start-node py                               # upstream's data plane from the wheel
  run.py --node-cmd "target/debug/slim"                # start a node command, find its port
  run.py --node URL --role p2p_responder="CMD ARGS"    # swap a role app for another program
  run.py --upstream-bin PATH --other-node URL link     # (e) upstream node linked to URL
  run.py configs --out DIR                             # write the upstream node configs

Role apps run with $SLIM_INTEROP_PYTHON (default: python3), which must have
slim-bindings==3.3.8. Each scenario prints PASS or FAIL with its metrics; the exit code is 0
only if every selected scenario passed. All child processes are stopped on exit, on failure
and on Ctrl-C. Logs of every process go to --logs (default: a fresh temporary directory).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from harness import nodes, procs, scenarios  # noqa: E402

EXPECTED_BINDINGS = "3.3.8"
DEFAULT = ["p2p", "group", "remove", "rpc", "ff", "large"]


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scenarios", nargs="*",
                   help=f"scenario names or letters (default: {' '.join(DEFAULT)}); "
                        + ", ".join(f"{k}={v[0]}" for k, v in scenarios.SCENARIOS.items()))
    p.add_argument("--node", default=os.environ.get("SLIM_INTEROP_NODE"),
                   help="endpoint of the node under test (env SLIM_INTEROP_NODE)")
    p.add_argument("--start-node", choices=["upstream", "py"],
                   help="start a node for the run: upstream's binary or the wheel's data plane")
    p.add_argument("--node-cmd", default=None,
                   help="start this command as the node under test (e.g. our `slim --config "
                        "F`); with --node, wait for that endpoint, else find its port in /proc")
    p.add_argument("--other-node-cmd", default=None,
                   help="link scenario: start this command as the node to link to")
    p.add_argument("--other-node", default=os.environ.get("SLIM_INTEROP_OTHER_NODE"),
                   help="link scenario: endpoint the upstream node links to (our node); "
                        "without it a second upstream node is started (self-check)")
    p.add_argument("--upstream-bin", default=os.environ.get("SLIM_UPSTREAM_BIN"),
                   help="upstream agntcy-slim 3.4.6 `slim` binary (env SLIM_UPSTREAM_BIN)")
    p.add_argument("--python", default=os.environ.get("SLIM_INTEROP_PYTHON", "python3"),
                   help="interpreter with slim_bindings (env SLIM_INTEROP_PYTHON)")
    p.add_argument("--role", action="append", default=[], metavar="ROLE=CMD",
                   help="replace a role app (p2p_initiator, p2p_responder, group_moderator, "
                        "group_member, rpc_server, rpc_client) by CMD, which gets the same "
                        "arguments and must print the same JSON events; repeatable")
    p.add_argument("--identity-binding", choices=["off", "warn", "enforce"], default="enforce",
                   help="SLIM_IDENTITY_BINDING for the role apps: whether upstream apps "
                        "reject peers whose name id or control-payload signature does not "
                        "match their identity (upstream default: warn)")
    p.add_argument("--logs", type=Path, default=None,
                   help="directory for process logs (default: a temporary directory, "
                        "removed when every scenario passed)")
    p.add_argument("--p2p-count", type=int, default=1000)
    p.add_argument("--group-count", type=int, default=100)
    p.add_argument("--member-count", type=int, default=20)
    p.add_argument("--deadline", type=float, default=90.0, help="hard limit per role app, s")
    p.add_argument("--json", action="store_true", help="also print one JSON summary line")
    return p.parse_args(argv)


def resolve(names: list[str]) -> list[str]:
    by_letter = {letter: name for name, (letter, _) in scenarios.SCENARIOS.items()}
    out = []
    for n in names or DEFAULT:
        name = by_letter.get(n, n)
        if name not in scenarios.SCENARIOS:
            sys.exit(f"unknown scenario {n!r}; known: {', '.join(scenarios.SCENARIOS)}")
        out.append(name)
    return out


ROLES = {"p2p_initiator", "p2p_responder", "group_moderator", "group_member",
         "rpc_server", "rpc_client"}


def parse_roles(specs: list[str]) -> dict[str, list[str]]:
    roles = {}
    for spec in specs:
        role, sep, cmd = spec.partition("=")
        if not sep or role not in ROLES or not cmd.strip():
            sys.exit(f"--role wants ROLE=CMD with ROLE one of {', '.join(sorted(ROLES))}; "
                     f"got {spec!r}")
        roles[role] = shlex.split(cmd)
    return roles


def write_configs(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="run.py configs")
    p.add_argument("--out", type=Path, default=HERE / "configs")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    files = {
        "upstream-node.yaml": nodes.upstream_config(
            "interop-node", listen="${env:SLIM_LISTEN}"),
        "upstream-linked-node.yaml": nodes.upstream_config(
            "interop-linked-node", listen="${env:SLIM_LISTEN}",
            link_to="${env:SLIM_LINK_TO}"),
    }
    for name, config in files.items():
        header = ("# Generated by tests/interop/run.py configs; accepted by agntcy-slim 3.4.6.\n"
                  "# SLIM_LISTEN=127.0.0.1:PORT"
                  + (", SLIM_LINK_TO=http://HOST:PORT (the node to link to)" if "linked" in name
                     else "") + "\n")
        (args.out / name).write_text(header + nodes.to_yaml(config) + "\n")
        print(args.out / name)
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["configs"]:
        return write_configs(argv[1:])
    args = parse_args(argv)
    selected = resolve(args.scenarios)
    procs.install_cleanup()
    log_root = args.logs or Path(tempfile.mkdtemp(prefix="slim-interop-"))
    log_root.mkdir(parents=True, exist_ok=True)
    settings = scenarios.Settings(
        python=args.python, apps_dir=HERE / "apps", node=args.node,
        other_node=args.other_node, upstream_bin=args.upstream_bin,
        p2p_count=args.p2p_count, group_count=args.group_count,
        member_count=args.member_count, deadline=args.deadline,
        other_node_cmd=shlex.split(args.other_node_cmd) if args.other_node_cmd else None,
        role_cmds=parse_roles(args.role), identity_binding=args.identity_binding)
    version = preflight(args.python)
    print(f"interop: slim-bindings {version} via {args.python}; logs in {log_root}", flush=True)

    results = []
    node_procs = procs.Procs(log_root)
    try:
        with node_procs:
            if args.start_node or args.node_cmd:
                settings.node = start_node(args, node_procs)
            if settings.node:
                print(f"interop: node under test {settings.node}", flush=True)
            for name in selected:
                results.append(run_one(name, settings, log_root))
    except procs.ScenarioFailure as exc:  # the node to test could not be started
        print(f"FAIL node: {exc}", flush=True)
        for proc in node_procs.procs:
            print(f"  [{proc.label}]\n{proc.tail()}", flush=True)
        return 1
    except KeyboardInterrupt:
        print("interop: interrupted, stopping every child process", flush=True)
        return 130
    finally:
        procs.stop_all()

    failed = [r for r in results if not r["pass"]]
    print(f"interop: {len(results) - len(failed)}/{len(results)} scenarios passed"
          + (f"; failed: {', '.join(r['scenario'] for r in failed)}" if failed else ""),
          flush=True)
    if args.logs is None and not failed:
        shutil.rmtree(log_root, ignore_errors=True)  # temporary logs are kept only on failure
        log_root = None
    if args.json:
        print(json.dumps({"results": results, "logs": log_root and str(log_root)}, default=str))
    return 1 if failed else 0


def preflight(python: str) -> str:
    """The role apps' interpreter must import slim_bindings; returns the package version."""
    probe = ("import importlib.metadata as m, slim_bindings; "
             "print(m.version('slim-bindings'))")
    try:
        out = subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        sys.exit(f"interop: cannot run {python}: {exc}")
    if out.returncode != 0:
        sys.exit(f"interop: {python} cannot import slim_bindings (set SLIM_INTEROP_PYTHON, "
                 f"see tests/interop/README.md):\n{out.stderr.strip()[-500:]}")
    version = out.stdout.strip()
    if version != EXPECTED_BINDINGS:
        print(f"interop: warning: slim-bindings {version}, scenarios were validated with "
              f"{EXPECTED_BINDINGS}", flush=True)
    return version


def start_node(args: argparse.Namespace, owner: procs.Procs) -> str:
    if args.node_cmd:
        node = nodes.start_command(owner, "node_under_test", shlex.split(args.node_cmd), args.node)
    elif args.start_node == "upstream":
        if not args.upstream_bin:
            sys.exit("--start-node upstream needs --upstream-bin or SLIM_UPSTREAM_BIN")
        node = nodes.start_upstream(owner, args.upstream_bin, "node_under_test", "node-under-test")
    else:
        node = nodes.start_py_node(owner, args.python, HERE / "apps", "node_under_test")
    return node.endpoint


def run_one(name: str, settings: scenarios.Settings, log_root: Path) -> dict:
    letter, fn = scenarios.SCENARIOS[name]
    log_dir = log_root / f"{letter}-{name}"
    log_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    owner = procs.Procs(log_dir)
    outcome: dict = {"scenario": name, "letter": letter}
    try:
        with owner:
            metrics = fn(scenarios.Run(settings, owner))
        outcome.update({"pass": True, "metrics": metrics})
    except procs.ScenarioFailure as exc:
        outcome.update({"pass": False, "reason": str(exc)})
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - a harness bug is a failure, not a crash
        outcome.update({"pass": False, "reason": f"harness error: {exc!r}",
                        "trace": traceback.format_exc()})
    outcome["seconds"] = round(time.monotonic() - started, 2)
    warnings = [dict(proc=p.label, **{k: v for k, v in w.items() if k not in ("event", "t")})
                for p in owner.procs for w in p.all("warning")]
    if warnings:
        outcome["warnings"] = warnings
    word = "PASS" if outcome["pass"] else "FAIL"
    print(f"{word} ({letter}) {name} in {outcome['seconds']} s", flush=True)
    if outcome["pass"]:
        print("     " + json.dumps(outcome["metrics"], default=str), flush=True)
    else:
        print(f"     reason: {outcome['reason']}", flush=True)
        if "trace" in outcome:
            print(outcome["trace"], flush=True)
        for proc in owner.procs:
            print(f"  [{proc.label}]\n{proc.tail()}", flush=True)
        print(f"     logs: {log_dir}", flush=True)
    for warning in outcome.get("warnings", []):
        print("     warning: " + json.dumps(warning, default=str), flush=True)
    return outcome


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
