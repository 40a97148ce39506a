"""Child processes for the scenario runner: start, watch their output, always clean up.

* `Proc` runs one command in its own process group. Its stdout is read by a thread: JSON
  lines become events (role apps), any line is also kept as text (nodes log to stdout) and
  copied to `<label>.out` in the run's log directory; stderr goes to `<label>.err`.
* `Proc.wait_event` / `Proc.wait_line` / `Proc.wait_exit` block with a deadline and fail
  fast when the process reports an `error` event or exits early.
* `Procs` is a context manager owning every child of a scenario: leaving it (normally, on a
  failure, or on Ctrl-C) terminates each process group (SIGTERM, then SIGKILL). A module-level
  registry plus `atexit` and SIGTERM/SIGHUP handlers cover the runner being killed too.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable


class ScenarioFailure(Exception):
    """The scenario's expectation was not met; the message says which and why."""


_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # upstream's tracing colours its output
_LIVE: set["Proc"] = set()
_LIVE_LOCK = threading.Lock()


class Proc:
    def __init__(self, label: str, argv: list[str], log_dir: Path,
                 env: dict[str, str] | None = None, cwd: str | None = None) -> None:
        self.label = label
        self.argv = argv
        self.out_path = log_dir / f"{label}.out"
        self.err_path = log_dir / f"{label}.err"
        self.events: list[dict[str, Any]] = []
        self.lines: list[str] = []
        self.cond = threading.Condition()
        self.started_at = time.monotonic()
        self._err_file = open(self.err_path, "wb")
        try:
            self.popen = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._err_file,
                start_new_session=True, env=env, cwd=cwd)
        except OSError as exc:
            self._err_file.close()
            raise ScenarioFailure(f"cannot start {label} ({argv[0]}): {exc}") from exc
        with _LIVE_LOCK:
            _LIVE.add(self)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    # -- output -----------------------------------------------------------------------
    def _read(self) -> None:
        assert self.popen.stdout is not None
        with open(self.out_path, "w", encoding="utf-8") as copy:
            for raw in self.popen.stdout:
                line = _ANSI.sub("", raw.decode("utf-8", errors="replace").rstrip("\n"))
                copy.write(line + "\n")
                copy.flush()
                event = None
                if line.startswith("{"):
                    try:
                        event = json.loads(line)
                    except ValueError:
                        event = None
                with self.cond:
                    self.lines.append(line)
                    if isinstance(event, dict) and "event" in event:
                        self.events.append(event)
                    self.cond.notify_all()
        self.popen.wait()
        with self.cond:
            self.cond.notify_all()

    def exited(self) -> bool:
        return self.popen.poll() is not None

    def _failure_event(self) -> dict[str, Any] | None:
        return next((e for e in self.events if e.get("event") == "error"), None)

    def _wait(self, what: str, find: Callable[[], Any], timeout: float,
              fail_on_error: bool = True) -> Any:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = find()
                if found is not None:
                    return found
                if fail_on_error and (err := self._failure_event()) is not None:
                    raise ScenarioFailure(f"{self.label} reported an error while we waited for "
                                          f"{what}: {err.get('error')}")
                if self.exited() and not self._reader.is_alive():
                    raise ScenarioFailure(f"{self.label} exited with code {self.popen.returncode}"
                                          f" before {what}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ScenarioFailure(f"{self.label}: no {what} within {timeout:.0f} s")
                self.cond.wait(min(left, 0.5))

    def wait_event(self, name: str, timeout: float,
                   pred: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any]:
        def find():
            return next((e for e in self.events
                         if e.get("event") == name and (pred is None or pred(e))), None)
        return self._wait(f"'{name}' event", find, timeout)

    def wait_line(self, pattern: str, timeout: float) -> re.Match:
        regex = re.compile(pattern)

        def find():
            for line in self.lines:
                if (m := regex.search(line)) is not None:
                    return m
            return None
        return self._wait(f"log line /{pattern}/", find, timeout, fail_on_error=False)

    def wait_exit(self, timeout: float) -> int:
        try:
            code = self.popen.wait(timeout)
        except subprocess.TimeoutExpired as exc:
            raise ScenarioFailure(f"{self.label} did not finish within {timeout:.0f} s") from exc
        self._reader.join(5)
        return code

    def result(self, timeout: float) -> dict[str, Any]:
        """Wait for a role app to end and return its `done` event; fail on anything else."""
        code = self.wait_exit(timeout)
        with self.cond:
            err = self._failure_event()
            done = next((e for e in reversed(self.events) if e.get("event") == "done"), None)
        if err is not None:
            details = {k: v for k, v in err.items() if k not in ("event", "t", "trace")}
            raise ScenarioFailure(f"{self.label} failed: {err.get('error')} {details}")
        if code != 0 or done is None:
            raise ScenarioFailure(f"{self.label} exited with code {code} without a done event")
        return done

    def all(self, name: str) -> list[dict[str, Any]]:
        with self.cond:
            return [e for e in self.events if e.get("event") == name]

    def tail(self, n: int = 15) -> str:
        parts = []
        for path in (self.out_path, self.err_path):
            try:
                text = path.read_text(errors="replace").splitlines()
            except OSError:
                continue
            if text:
                parts.append(f"  --- {path.name} (last {min(n, len(text))} lines)")
                parts.extend("  " + _ANSI.sub("", line)[:300] for line in text[-n:])
        return "\n".join(parts)

    # -- teardown ---------------------------------------------------------------------
    def stop(self, grace: float = 3.0) -> None:
        """SIGTERM the process group, SIGKILL it if still alive after `grace` s."""
        if self.popen.poll() is None:
            _signal_group(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                _signal_group(self.popen.pid, signal.SIGKILL)
                try:
                    self.popen.wait(grace)
                except subprocess.TimeoutExpired:
                    pass
        else:
            # The leader is gone; make sure nothing it started lingers in its group.
            _signal_group(self.popen.pid, signal.SIGKILL)
        self._reader.join(2)
        self._err_file.close()
        with _LIVE_LOCK:
            _LIVE.discard(self)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class Procs:
    """Owns the processes of one scenario; stops them all on exit, whatever happened."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: list[Proc] = []

    def start(self, label: str, argv: list[str], **kw: Any) -> Proc:
        proc = Proc(label, argv, self.log_dir, **kw)
        self.procs.append(proc)
        return proc

    def __enter__(self) -> "Procs":
        return self

    def __exit__(self, *exc: Any) -> None:
        for proc in reversed(self.procs):
            proc.stop()


def stop_all() -> None:
    with _LIVE_LOCK:
        live = list(_LIVE)
    for proc in live:
        proc.stop(grace=1.0)


def install_cleanup() -> None:
    """Kill every child on interpreter exit; SIGINT/SIGTERM/SIGHUP raise KeyboardInterrupt."""
    atexit.register(stop_all)

    def interrupt(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt)
    # Ctrl-C must work even when started from a shell that ignores SIGINT for background jobs.
    signal.signal(signal.SIGINT, signal.default_int_handler)
