"""Issue 2: SIGTERM drains in-flight requests under daphne and uvicorn."""

from __future__ import annotations

import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from project.demo.models import Write
from tests.servers import ServerProcess

SERVERS = ["daphne", "uvicorn"]


def _get(url: str, timeout: float = 30.0) -> tuple[int | str, float]:
    try:
        response = httpx.get(url, timeout=timeout)
        return response.status_code, time.monotonic()
    except httpx.HTTPError as error:
        return type(error).__name__, time.monotonic()


def _start_slow_requests(server: ServerProcess, count: int, seconds: float) -> tuple[ThreadPoolExecutor, list]:
    pool = ThreadPoolExecutor(max_workers=2 * count)
    futures = []
    for kind in ("sync", "async"):
        for index in range(count):
            url = f"{server.base_url}/slow/{kind}?seconds={seconds}&token={kind}-{index}"
            futures.append(pool.submit(_get, url))
    return pool, futures


def _wait_rows(count: int, timeout: float = 10.0) -> None:
    """The views write first: all rows present means all requests are in their views."""
    deadline = time.monotonic() + timeout
    event = threading.Event()
    while Write.objects.count() < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"only {Write.objects.count()} of {count} requests started")
        event.wait(0.02)


@pytest.mark.parametrize("kind", SERVERS)
def test_sigterm_drains_sync_and_async_requests(server_factory, kind):
    server = server_factory(kind)
    pool, futures = _start_slow_requests(server, 20, 1.5)
    _wait_rows(40)
    server.send(signal.SIGTERM)
    results = [future.result() for future in futures]
    code = server.wait_exit(10)
    pool.shutdown()

    statuses = [status for status, _ in results]
    assert statuses == [200] * 40, server.output
    last_response = max(at for _, at in results)
    assert code == 0, server.output
    assert server.exited_at is not None
    assert server.exited_at - last_response < 0.2 + 0.1, server.output  # 0.1: output pipe latency
    assert Write.objects.count() == 40


@pytest.mark.parametrize("kind", SERVERS)
def test_request_after_signal_is_refused_not_hung(server_factory, kind):
    server = server_factory(kind)
    pool, futures = _start_slow_requests(server, 1, 1.5)
    _wait_rows(2)
    server.send(signal.SIGTERM)
    server.wait_for_log("shutdown step: drain requests")
    status, _ = _get(f"{server.base_url}/ping", timeout=5)
    assert status in (503, "ConnectError"), status
    assert [f.result()[0] for f in futures] == [200, 200]
    assert server.wait_exit(10) == 0
    pool.shutdown()


@pytest.mark.parametrize("kind", SERVERS)
def test_idle_server_exits_fast(server_factory, kind):
    server = server_factory(kind)
    sent = server.send(signal.SIGTERM)
    assert server.wait_exit(5) == 0, server.output
    assert server.exited_at - sent < 0.5
