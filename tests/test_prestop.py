"""Issue 12: `manage.py drain` from a Kubernetes preStop hook, then SIGTERM, on real servers.

The pre-drain delay is 2 s: readiness fails at once, requests are served until the delay
is over, then still served but with Connection: close; the drain waits for what is in
flight; the SIGTERM that follows (or comes in the middle) continues that drain, it never
starts the delay again.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import httpx

from tests.operations import start_slow_requests, status_code, wait_status
from tests.servers import ROOT

DELAY = {"GRACEFUL_PRE_DRAIN_DELAY": "2"}


def _start_drain(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """`manage.py drain` as the kubelet runs it: in the background of the test."""
    return subprocess.Popen(
        [sys.executable, "manage.py", "drain", *args],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _at(started: float, seconds: float) -> None:
    """Pacing: the test's own schedule of requests, not a wait for a condition."""
    threading.Event().wait(max(0.0, started + seconds - time.monotonic()))


def test_prestop_drain_serves_during_the_delay_then_closes_then_sigterm(
    control_server, runtime_env
):
    server = control_server("daphne", env=DELAY)
    pid = server.process.pid
    # In flight past the delay: the drain must wait for it.
    threads, results = start_slow_requests([f"{server.base_url}/slow/async?seconds=4&token=ps"])
    wait_status(runtime_env, pid, lambda s: s["requests"] >= 1)

    with httpx.Client(base_url=server.base_url, timeout=5) as probe:
        assert probe.get("/healthz/ready").status_code == 200
        drain = _start_drain(runtime_env, "--timeout", "20")
        server.wait_for_log("drain requested")
        started = time.monotonic()
        ready = probe.get("/healthz/ready").status_code
    # Recorded, not asserted (no timed assertions): the probe's answer after the log line.
    print(f"readiness {ready} {1000 * (time.monotonic() - started):.1f} ms after the drain began")
    assert ready == 503
    _at(started, 0.5)
    assert status_code(f"{server.base_url}/ping") == 200  # still served: the delay runs
    _at(started, 3.0)
    late = httpx.get(f"{server.base_url}/ping", timeout=5)  # the delay is over:
    assert late.status_code == 200 and late.headers["connection"] == "close"  # served, closed

    out, err = drain.communicate(timeout=30)
    assert drain.returncode == 0, out + err
    threads[0].join()
    assert results == [200]
    # Progress: the delay, the request holding the drain, elapsed and remaining time.
    assert "draining (still serving for" in out, out + err
    assert re.search(r"draining, 1 request, 0 websockets, 0 tasks; oldest GET /slow/async ", out)
    assert re.search(r"\d+\.\ds elapsed, \d+\.\ds left", out)
    assert "1 server drained" in out
    # The server's log of what the drain waited for, each line with its pid.
    closing = "drain: serving what still arrives, with Connection: close"
    server.wait_for_log(rf"\[pid {pid}\] {closing}; waiting for 1 request \(oldest")
    server.wait_for_log(rf"{closing}; no request left in flight")

    server.send(signal.SIGTERM)
    server.wait_for_log("pre-drain delay: over already")
    assert server.wait_exit(10) == 0, server.output
    assert server.output.count("pre-drain delay: serving 2s more") == 1
    # LOGGING is configured (tests.settings): the report is logged once, not twice.
    [report] = [line for line in server.lines if "graceful shutdown took" in line]
    assert f"[pid {pid}]" in report


def test_sigterm_during_the_drains_delay_waits_only_for_the_rest(control_server, runtime_env):
    """Under uvicorn, and without a LOGGING setting: the report still reaches stderr."""
    server = control_server("uvicorn", env={**DELAY, "TEST_NO_LOGGING": "1"})
    pid = server.process.pid
    drain = _start_drain(runtime_env, "--timeout", "20", "--json")
    server.wait_for_log("drain requested")
    started = time.monotonic()
    _at(started, 0.5)
    server.send(signal.SIGTERM)
    server.wait_for_log(r"pre-drain delay: \d\.\ds left of the one already running")
    _at(started, 1.0)
    assert status_code(f"{server.base_url}/ping") == 200  # the signal did not cut the delay

    assert server.wait_exit(10) == 0, server.output
    out, err = drain.communicate(timeout=30)
    assert drain.returncode == 0, out + err
    document = json.loads(out)
    assert document["timeout"] == 20 and 0 < document["remaining"] < 20
    [status] = document["servers"]
    assert status["pid"] == pid and "oldest" in status and "refusing_in" in status
    assert server.output.count("pre-drain delay: serving 2s more") == 1  # not started again
    [report] = [line for line in server.lines if "graceful shutdown took" in line]
    assert f"[pid {pid}]" in report and "graceful_django" in report


def test_drain_runs_the_before_drain_hooks_once_and_the_signal_does_not_repeat_them(
    control_server, runtime_env
):
    # A preStop drain is where deregistration must happen: the SIGTERM comes only after the
    # pre-drain delay, and the traffic service discovery sends meanwhile would be refused.
    hook = {"hook": "tests.testapp.hooks.announce", "phase": "before_drain", "name": "announce"}
    server = control_server("daphne", env={**DELAY, "TEST_GRACEFUL_HOOKS": json.dumps([hook])})
    drain = _start_drain(runtime_env, "--timeout", "20")
    server.wait_for_log("BEFORE_DRAIN_HOOK ran")
    assert status_code(f"{server.base_url}/ping") == 200  # within the delay: still served
    out, err = drain.communicate(timeout=30)
    assert drain.returncode == 0, out + err

    server.send(signal.SIGTERM)
    assert server.wait_exit(10) == 0, server.output
    assert server.output.count("BEFORE_DRAIN_HOOK ran") == 1, server.output
    assert server.output.count("hook announce started") == 1, server.output
