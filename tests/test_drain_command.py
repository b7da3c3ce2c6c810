"""Issue 5: `manage.py drain` against real server processes on this host."""

# The fixtures imported from tests.operations are then parameters of the tests.
# ruff: noqa: F811

from __future__ import annotations

import json
import os
import signal
import stat
from pathlib import Path

import pytest

from tests.operations import (
    control_request,
    run_drain,
    served_and_closed,
    start_slow_requests,
    status_code,
    wait_status,
)


def _pid(server) -> int:
    return server.process.pid


def test_drain_two_daphne_processes_then_undrain_then_shutdown(control_server, runtime_env):
    servers = [control_server("daphne"), control_server("daphne")]
    urls = [f"{s.base_url}/slow/async?seconds=1.5&token=drain-{i}" for i, s in enumerate(servers)]
    threads, results = start_slow_requests(urls)
    for server in servers:
        wait_status(runtime_env, _pid(server), lambda s: s["requests"] >= 1)

    drained = run_drain(runtime_env, "--timeout", "10")
    for thread in threads:
        thread.join()

    assert drained.returncode == 0, drained.stdout + drained.stderr
    assert results == [200, 200]  # in-flight work finished
    for server in servers:
        pid = _pid(server)
        # Progress: each process seen with its request in flight, then drained.
        head = f"pid {pid} (daphne 127.0.0.1:{server.port})"
        assert f"{head}: draining, 1 request, " in drained.stdout
        assert f"{head}: drained, 0 requests" in drained.stdout
        assert status_code(f"{server.base_url}/healthz/ready") == 503
        assert status_code(f"{server.base_url}/healthz/live") == 200
        assert served_and_closed(f"{server.base_url}/ping")
    assert "2 servers drained" in drained.stdout

    undrained = run_drain(runtime_env, "--undrain")
    assert undrained.returncode == 0, undrained.stdout + undrained.stderr
    for server in servers:
        assert status_code(f"{server.base_url}/healthz/ready") == 200
        assert status_code(f"{server.base_url}/ping") == 200

    stopped = run_drain(runtime_env, "--shutdown", "--timeout", "10")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    for server in servers:
        assert server.wait_exit(5) == 0, server.output
        assert f"pid {_pid(server)} (daphne 127.0.0.1:{server.port}): exited" in stopped.stdout
    assert list(Path(runtime_env["GRACEFUL_RUNTIME_DIR"]).iterdir()) == []


def test_drain_under_uvicorn_and_json_output(control_server, runtime_env):
    server = control_server("uvicorn")
    result = run_drain(runtime_env, "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["action"] == "drain" and document["exit_code"] == 0
    [status] = document["servers"]
    assert status["pid"] == _pid(server) and status["server"] == "uvicorn"
    assert status["drained"] is True and status["ready"] is False and status["live"] is True
    assert f"127.0.0.1:{server.port}" in status["listening"]
    assert status_code(f"{server.base_url}/healthz/ready") == 503
    assert served_and_closed(f"{server.base_url}/ping")

    assert run_drain(runtime_env, "--undrain").returncode == 0
    assert status_code(f"{server.base_url}/ping") == 200


def test_timeout_exits_1_and_names_what_is_in_flight(control_server, runtime_env):
    server = control_server("daphne")
    threads, results = start_slow_requests([f"{server.base_url}/slow/async?seconds=4&token=t"])
    wait_status(runtime_env, _pid(server), lambda s: s["requests"] >= 1)
    result = run_drain(runtime_env, "--timeout", "0.5")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "timed out after 0.5s" in result.stderr and "(1 request)" in result.stderr
    threads[0].join()
    assert results == [200]


def test_no_server_exits_2_and_stale_state_is_removed(control_server, runtime_env):
    server = control_server("daphne")
    directory = Path(runtime_env["GRACEFUL_RUNTIME_DIR"])
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for path in directory.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    server.process.send_signal(signal.SIGKILL)
    server.wait_exit(5)

    result = run_drain(runtime_env, "--status")
    assert result.returncode == 2
    assert "no running server of this project found" in result.stderr
    assert list(directory.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pid", "999999999"], "no running server of this project with pid 999999999"),
        (["--pid", "abc"], "--pid must be a process id"),
        (["--timeout", "-1"], "--timeout must be a number of seconds >= 0, not '-1'"),
        (["--timeout", "soon"], "--timeout must be a number of seconds >= 0, not 'soon'"),
        (["--undrain", "--status"], "choose one of --undrain or --status"),
        (["--fleet"], "--fleet needs a channel layer shared by every server process"),
    ],
)
def test_bad_arguments_touch_no_server(control_server, runtime_env, args, message):
    server = control_server("daphne")
    result = run_drain(runtime_env, *args)
    assert result.returncode == 3, result.stdout + result.stderr
    assert message in result.stderr
    assert status_code(f"{server.base_url}/healthz/ready") == 200
    assert "drain requested" not in server.output


def test_control_socket_answers_bad_messages_and_changes_nothing(control_server, runtime_env):
    server = control_server("daphne")
    replies = control_request(
        runtime_env,
        _pid(server),
        b"not json\n",
        b'["drain"]\n',
        b'{"op": "explode"}\n',
        b'{"op": "status"}\n',
    )
    assert [reply["ok"] for reply in replies] == [False, False, False, True]
    assert "not a JSON object" in replies[0]["error"]
    assert (
        "op must be one of status, drain, undrain, subscribe, not 'explode'" in replies[2]["error"]
    )
    assert replies[3]["status"]["ready"] is True and replies[3]["status"]["pid"] == _pid(server)
    assert status_code(f"{server.base_url}/ping") == 200


def test_drain_no_delay_drains_at_once_and_sigterm_skips_the_delay(control_server, runtime_env):
    """`--no-delay`: the operator says the load balancers need no time."""
    server = control_server(
        "daphne", env={"GRACEFUL_PRE_DRAIN_DELAY": "5", "GRACEFUL_DRAIN_MODE": "refuse"}
    )
    result = run_drain(runtime_env, "--no-delay")
    assert result.returncode == 0, result.stdout + result.stderr
    assert status_code(f"{server.base_url}/ping") == 503  # "refuse" mode: at once
    assert "pre-drain delay: serving" not in server.output
    server.send(signal.SIGTERM)
    server.wait_for_log("pre-drain delay: over already")
    assert server.wait_exit(3) == 0, server.output


def test_runtime_dir_of_another_user_is_refused(runtime_env, tmp_path):
    if os.getuid() != 0:
        pytest.skip("needs root to make a directory owned by another user")
    directory = tmp_path / "theirs"
    directory.mkdir(mode=0o700)
    os.chown(directory, 12345, 12345)
    result = run_drain({**runtime_env, "GRACEFUL_RUNTIME_DIR": str(directory)}, "--status")
    assert result.returncode == 3
    assert "belongs to uid 12345" in result.stderr
