"""Faults at shutdown: each ends in a bounded exit, a clear log line, and nothing else lost.

Real server processes, real signals, a real PostgreSQL (behind a real TCP relay where the
network between them must fail), a real read-only bind mount.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from project.demo.models import Write
from tests.conftest import database_url_for_test_db
from tests.servers import ROOT, ServerProcess
from tests.tcp_proxy import TcpProxy

H = "tests.testapp.hooks"


def get(url: str) -> int | str:
    try:
        return httpx.get(url, timeout=30).status_code
    except httpx.HTTPError as error:
        return type(error).__name__


def slow_requests(server: ServerProcess, count: int, token: str) -> list:
    pool = ThreadPoolExecutor(count)
    futures = [
        pool.submit(get, f"{server.base_url}/slow/async?seconds=1&token={token}-{index}")
        for index in range(count)
    ]
    server.wait_for_count(rf"wrote async {token}-", count)
    pool.shutdown(wait=False)
    return futures


def test_ten_signals_in_a_row_are_one_shutdown(server_factory):
    server = server_factory("daphne")
    futures = slow_requests(server, 3, "burst")
    assert server.process is not None
    # Sent while the process is stopped, the ten are one pending signal for the kernel,
    # whatever the load of the machine running the test; then the process runs again.
    # (Sent to a running process, graceful_django merges those that arrive before the
    # shutdown started: see os_signals.SignalCatcher.)
    os.kill(server.process.pid, signal.SIGSTOP)
    # Stopped for sure before the first SIGTERM: a SIGTERM sent while the stop is still
    # pending would be handled first (the kernel takes the lower signal number first).
    os.waitid(os.P_PID, server.process.pid, os.WSTOPPED | os.WNOWAIT)
    for _ in range(10):
        os.kill(server.process.pid, signal.SIGTERM)
    os.kill(server.process.pid, signal.SIGCONT)
    assert server.wait_exit(15) == 0, server.output
    assert [future.result() for future in futures] == [200] * 3
    assert server.output.count("received SIGTERM, shutting down gracefully") == 1
    assert "second signal" not in server.output


def test_a_signal_during_start_up_runs_the_whole_shutdown(transactional_db):
    server = ServerProcess("daphne", env={"DATABASE_URL": database_url_for_test_db()})
    try:
        server.launch()
        # daphne logs this after it imported the application (our handlers are in place)
        # and before its reactor runs: the signal waits for the server to be armed.
        server.wait_for_log("Starting server at", 20)
        server.send(signal.SIGTERM)
        assert server.wait_exit(20) == 0, server.output
        assert "received SIGTERM, shutting down gracefully" in server.output
        assert "graceful shutdown took" in server.output
        assert "Traceback" not in server.output
    finally:
        server.kill()


@pytest.mark.parametrize("kind", ["daphne", "uvicorn"])
def test_a_receiver_that_raises_is_logged_and_the_shutdown_goes_on(server_factory, kind):
    server = server_factory(kind, env={"TEST_RAISING_RECEIVERS": "1"})
    futures = slow_requests(server, 2, f"receivers-{kind}")
    server.send(signal.SIGTERM)
    assert server.wait_exit(15) == 0, server.output
    assert [future.result() for future in futures] == [200] * 2
    # server_started, shutdown_started, shutdown_finished: each logged, none fatal.
    assert server.output.count("a receiver of a graceful_django signal raised") == 3
    assert "graceful shutdown took" in server.output


@pytest.mark.parametrize("kind", ["daphne", "uvicorn"])
def test_a_hook_hanging_past_the_deadline_leaves_the_database_its_time(server_factory, kind):
    name = f"graceful-fault-{kind}-{os.getpid()}"
    entries = [
        {"hook": f"{H}.sleepy", "priority": 80, "name": "sleepy", "timeout": 30},
        {"hook": f"{H}.p50", "priority": 50, "name": "p50"},
    ]
    server = server_factory(
        kind,
        env={
            "TEST_GRACEFUL_HOOKS": json.dumps(entries),
            "GRACEFUL_TIMEOUT": "2",
            "GRACEFUL_HOOK_TIMEOUT": "1",
            "CONN_MAX_AGE": "600",
            "DATABASE_APPLICATION_NAME": name,
            "REPORT_BACKENDS_OF": name,
        },
    )
    futures = slow_requests(server, 1, f"hang-{kind}")
    server.send(signal.SIGTERM)
    assert server.wait_exit(15) in (0, 1), server.output
    assert futures[0].result() == 200
    output = server.output
    assert "hook sleepy timed out" in output, output
    assert "p50: skipped, the deadline was reached" in output, output
    # The database step still ran: no backend of the process is left.
    assert "shutdown step: close database connections" in output, output
    assert "BACKENDS_AT_EXIT=0" in output, output
    assert not Write.objects.filter(kind="hook", token="p50").exists()


@pytest.fixture
def database_behind_a_relay() -> Iterator[tuple[TcpProxy, str]]:
    url = urlsplit(database_url_for_test_db())
    query = parse_qs(url.query)
    port = url.port or 5432
    if "host" in query:  # the embedded PostgreSQL listens on a Unix socket in that directory
        proxy = TcpProxy(f"{query.pop('host')[0]}/.s.PGSQL.{port}")
    else:
        proxy = TcpProxy((url.hostname or "127.0.0.1", port))
    netloc = f"{url.username}@127.0.0.1:{proxy.port}"
    yield proxy, urlunsplit(url._replace(netloc=netloc, query=urlencode(query, doseq=True)))
    proxy.close()


@pytest.mark.parametrize("fault", ["cut", "freeze"])
def test_postgresql_unreachable_at_the_database_step(
    server_factory, database_behind_a_relay, fault
):
    proxy, url = database_behind_a_relay
    server = server_factory("daphne", env={"DATABASE_URL": url, "CONN_MAX_AGE": "600"})
    # Connections opened in the server's threads and kept (CONN_MAX_AGE).
    with ThreadPoolExecutor(4) as pool:
        results = list(
            pool.map(
                get,
                [f"{server.base_url}/slow/sync?seconds=0.1&token=pg-{fault}-{i}" for i in range(4)],
            )
        )
    assert results == [200] * 4
    getattr(proxy, fault)()
    server.send(signal.SIGTERM)
    assert server.wait_exit(15) == 0, server.output
    assert "shutdown step: close database connections" in server.output
    assert "graceful shutdown took" in server.output


@pytest.fixture
def read_only_runtime_dir() -> Iterator[str]:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a read-only bind mount needs root and mount(8)")
    directory = tempfile.mkdtemp(prefix="gd-ro-")
    os.chmod(directory, 0o700)
    mounted = subprocess.run(["mount", "--bind", directory, directory], capture_output=True)
    if mounted.returncode != 0:
        os.rmdir(directory)
        pytest.skip(f"cannot bind-mount here: {mounted.stderr.decode().strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", directory], check=True)
        yield directory
    finally:
        subprocess.run(["umount", directory], check=False)
        os.rmdir(directory)


@pytest.mark.parametrize("kind", ["daphne", "uvicorn"])
def test_a_read_only_runtime_directory_does_not_affect_the_shutdown(
    server_factory, read_only_runtime_dir, kind
):
    server = server_factory(kind, env={"GRACEFUL_RUNTIME_DIR": read_only_runtime_dir})
    server.wait_for_log("cannot open the control socket")
    futures = slow_requests(server, 2, f"ro-{kind}")
    command = [sys.executable, "manage.py", "drain", "--status"]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    env["GRACEFUL_RUNTIME_DIR"] = read_only_runtime_dir
    status = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert status.returncode == 2, status
    assert "no running server" in status.stderr and "Traceback" not in status.stderr
    server.send(signal.SIGTERM)
    assert server.wait_exit(15) == 0, server.output
    assert [future.result() for future in futures] == [200] * 2
    assert server.output.count("Read-only file system") == 1, server.output
    assert "Traceback" not in server.output


def test_garbage_and_floods_on_the_control_socket(
    control_server: Callable[..., ServerProcess], runtime_env: dict[str, str]
):
    server = control_server("daphne")
    socket_path = os.path.join(runtime_env["GRACEFUL_RUNTIME_DIR"], f"{server.process.pid}.sock")  # type: ignore[union-attr]
    held: list[socket.socket] = []
    try:
        for index in range(300):
            client = socket.socket(socket.AF_UNIX)
            client.connect(socket_path)
            if index % 3 == 0:
                client.sendall(b"\x00\xff not json\n" + b"x" * 5000 + b"\n")
            elif index % 3 == 1:
                client.sendall(b'{"op": "drain"')  # half a line, held open
            held.append(client)
        # Still served, and still serving.
        assert get(f"{server.base_url}/ping") == 200
        futures = slow_requests(server, 2, "flood")
        server.send(signal.SIGTERM)
        assert server.wait_exit(15) == 0, server.output
        assert [future.result() for future in futures] == [200] * 2
    finally:
        for client in held:
            client.close()
    assert "Traceback" not in server.output


@pytest.mark.parametrize("kind", ["daphne", "uvicorn"])
def test_a_stream_that_breaks_during_the_drain_does_not_hold_the_shutdown(server_factory, kind):
    server = server_factory(kind, env={"GRACEFUL_TIMEOUT": "30"})
    outcome: list[str] = []

    def read() -> None:
        url = f"{server.base_url}/test/broken-stream?seconds=0.5"
        try:
            with httpx.stream("GET", url, timeout=60) as response:
                for _ in response.iter_bytes():
                    pass
            outcome.append("complete")
        except httpx.HTTPError as error:
            outcome.append(type(error).__name__)

    with ThreadPoolExecutor(1) as pool:
        reading = pool.submit(read)
        server.wait_for_log("broken stream started")
        server.send(signal.SIGTERM)
        assert server.wait_exit(20) == 0, server.output
        reading.result(timeout=20)
    # The client learns that its response is broken; the shutdown did not wait for it
    # until the deadline.
    assert outcome and outcome[0] != "complete", (outcome, server.output)
    assert "GRACEFUL_TIMEOUT of" not in server.output
