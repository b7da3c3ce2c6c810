"""Issue 2: SIGTERM drains in-flight requests under daphne and uvicorn."""

from __future__ import annotations

import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.db import connection

from project.demo.models import Write
from tests.servers import ServerProcess

SERVERS = ["daphne", "uvicorn"]


def _get(url: str, timeout: float = 30.0) -> tuple[int | str, float]:
    try:
        response = httpx.get(url, timeout=timeout)
        return response.status_code, time.monotonic()
    except httpx.HTTPError as error:
        return type(error).__name__, time.monotonic()


def _start_slow_requests(
    server: ServerProcess, count: int, seconds: float
) -> tuple[ThreadPoolExecutor, list]:
    pool = ThreadPoolExecutor(max_workers=2 * count)
    futures = []
    for kind in ("sync", "async"):
        for index in range(count):
            url = f"{server.base_url}/slow/{kind}?seconds={seconds}&token={kind}-{index}"
            futures.append(pool.submit(_get, url))
    return pool, futures


def _wait_views_started(server: ServerProcess, count: int) -> None:
    """Each slow view logs once its row is written: then the request is in its view."""
    server.wait_for_count(r"wrote (sync|async) ", count)


@pytest.mark.parametrize("kind", SERVERS)
def test_sigterm_drains_sync_and_async_requests(server_factory, kind):
    server = server_factory(kind)
    pool, futures = _start_slow_requests(server, 20, 1.5)
    _wait_views_started(server, 40)
    server.send(signal.SIGTERM)
    results = [future.result() for future in futures]
    code = server.wait_exit(10)
    pool.shutdown()

    statuses = [status for status, _ in results]
    assert statuses == [200] * 40, server.output
    assert code == 0, server.output
    # How soon after the last response it exits is benchmarks.exit_latency's to measure.
    assert Write.objects.count() == 40


@pytest.mark.parametrize("kind", SERVERS)
def test_request_after_signal_is_refused_not_hung(server_factory, kind):
    server = server_factory(kind)
    pool, futures = _start_slow_requests(server, 1, 1.5)
    _wait_views_started(server, 2)
    server.send(signal.SIGTERM)
    server.wait_for_log("shutdown step: drain requests")
    status, _ = _get(f"{server.base_url}/ping", timeout=5)
    assert status in (503, "ConnectError"), status
    assert [f.result()[0] for f in futures] == [200, 200]
    assert server.wait_exit(10) == 0
    pool.shutdown()


@pytest.mark.parametrize("kind", SERVERS)
def test_idle_server_exits_fast(server_factory, kind):
    server = server_factory(kind, env={"GRACEFUL_TIMEOUT": "60"})
    server.send(signal.SIGTERM)
    # Well before the deadline: nothing is waited for when nothing is in flight.
    assert server.wait_exit(10) == 0, server.output
    assert "GRACEFUL_TIMEOUT of" not in server.output


@pytest.mark.parametrize("kind", SERVERS)
def test_sigint_behaves_like_sigterm(server_factory, kind):
    server = server_factory(kind)
    pool, futures = _start_slow_requests(server, 3, 1.0)
    _wait_views_started(server, 6)
    server.send(signal.SIGINT)
    assert [f.result()[0] for f in futures] == [200] * 6, server.output
    assert server.wait_exit(10) == 0, server.output
    assert "received SIGINT" in server.output
    pool.shutdown()


@pytest.mark.parametrize("kind", SERVERS)
def test_repeated_sigterm_goes_on_and_a_second_sigint_forces_the_exit(server_factory, kind):
    server = server_factory(kind)
    pool, futures = _start_slow_requests(server, 1, 20)
    _wait_views_started(server, 2)
    server.send(signal.SIGTERM)
    server.wait_for_log("shutdown step: drain requests")
    # A supervisor's duplicate (a master forwarding what the control group already got).
    server.send(signal.SIGTERM)
    server.wait_for_log("SIGTERM again, the shutdown goes on")
    assert server.process is not None and server.process.poll() is None, server.output
    server.send(signal.SIGINT)  # Ctrl+C during the shutdown
    code = server.wait_exit(5)
    assert code == 128 + signal.SIGINT, server.output
    assert "second signal SIGINT, forcing exit" in server.output
    # The 20 s requests were cut, not answered.
    assert all(future.result()[0] != 200 for future in futures)
    pool.shutdown()


def test_sigquit_forces_the_exit_at_once(server_factory):
    server = server_factory("uvicorn")
    pool, futures = _start_slow_requests(server, 1, 20)
    _wait_views_started(server, 2)
    server.send(signal.SIGQUIT)
    assert server.wait_exit(5) == 128 + signal.SIGQUIT, server.output
    assert "SIGQUIT, forcing exit" in server.output
    assert all(future.result()[0] != 200 for future in futures)
    pool.shutdown()


@pytest.mark.parametrize("kind", SERVERS)
def test_request_outliving_the_deadline_is_named_and_exit_is_non_zero(server_factory, kind):
    server = server_factory(kind, env={"GRACEFUL_TIMEOUT": "1.5"})
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(_get, f"{server.base_url}/slow/sync?seconds=30&token=too-slow", 10)
    _wait_views_started(server, 1)
    server.send(signal.SIGTERM)
    code = server.wait_exit(5)
    assert code == 1, server.output
    assert "GRACEFUL_TIMEOUT of 1.5s reached" in server.output
    assert "GET /slow/sync" in server.output
    future.result()
    pool.shutdown()


@pytest.mark.parametrize("kind", SERVERS)
def test_no_database_backend_left_at_exit(server_factory, kind):
    """CONN_MAX_AGE > 0 and sync views in several threads: every connection is closed."""
    name = f"graceful-test-{kind}-{time.monotonic_ns()}"
    server = server_factory(
        kind,
        env={"CONN_MAX_AGE": "600", "DATABASE_APPLICATION_NAME": name, "REPORT_BACKENDS_OF": name},
    )
    pool, futures = _start_slow_requests(server, 5, 0.5)
    assert [f.result()[0] for f in futures] == [200] * 10
    # The connections are really kept open by the threads that served the requests.
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [name])
        assert cursor.fetchone()[0] >= 2
    server.send(signal.SIGTERM)
    assert server.wait_exit(10) == 0, server.output
    assert "BACKENDS_AT_EXIT=0" in server.output, server.output
    pool.shutdown()


@pytest.mark.parametrize("kind", SERVERS)
def test_streaming_response_counts_until_its_last_chunk(server_factory, kind):
    server = server_factory(kind)
    pool = ThreadPoolExecutor(max_workers=1)
    first_chunk = threading.Event()

    def stream() -> tuple[int, str]:
        url = f"{server.base_url}/stream?seconds=1.2&chunks=6&token=s"
        with httpx.stream("GET", url, timeout=10) as response:
            body = []
            for chunk in response.iter_text():
                body.append(chunk)
                first_chunk.set()
            return response.status_code, "".join(body)

    future = pool.submit(stream)
    assert first_chunk.wait(10)
    server.send(signal.SIGTERM)
    status, body = future.result()
    assert status == 200
    assert body.endswith("done\n") and body.count("chunk") == 6
    assert server.wait_exit(10) == 0, server.output
    assert Write.objects.filter(kind="stream").count() == 1
    pool.shutdown()
