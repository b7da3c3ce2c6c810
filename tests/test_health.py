"""Issue 5: readiness and liveness endpoints, and the pre-drain delay, on real servers."""

# The fixtures imported from tests.operations are then parameters of the tests.
# ruff: noqa: F811

from __future__ import annotations

import signal
import threading
import time

import httpx
import pytest

from tests.operations import (
    control_request,
    start_slow_requests,
    status_code,
)

SERVERS = ["daphne", "uvicorn"]


@pytest.mark.parametrize("kind", SERVERS)
def test_readiness_fails_within_50ms_of_sigterm_while_liveness_stays(server_factory, kind):
    server = server_factory(kind, env={"GRACEFUL_PRE_DRAIN_DELAY": "2"})
    with httpx.Client(base_url=server.base_url, timeout=5) as client:
        assert client.get("/healthz/ready").status_code == 200
        sent = server.send(signal.SIGTERM)
        # Back to back from the signal on: the first 503 dates the flip (printed; how soon is
        # a measurement, not an assertion). It must come during the 2 s pre-drain delay,
        # while new work is still served: before the server stops accepting.
        while (response := client.get("/healthz/ready")).status_code == 200:
            assert "shutdown step: stop accepting" not in server.output, server.output
        flipped = time.monotonic() - sent
        early = "shutdown step: stop accepting" not in server.output
        live = client.get("/healthz/live")
    assert response.status_code == 503
    assert response.json()["phase"] == "draining"
    print(f"{kind}: readiness flipped {flipped * 1000:.1f} ms after SIGTERM")
    assert early, server.output
    assert live.status_code == 200
    assert server.wait_exit(10) == 0, server.output


@pytest.mark.parametrize("kind", SERVERS)
def test_pre_drain_delay_serves_then_refuses_new_connections(server_factory, kind):
    server = server_factory(kind, env={"GRACEFUL_PRE_DRAIN_DELAY": "2"})
    threads, results = start_slow_requests([f"{server.base_url}/slow/async?seconds=3&token=pre"])
    # The view writes its row first: wait until it is in the view, through the database.
    from project.demo.models import Write

    wait = threading.Event()
    while not Write.objects.filter(token="pre").exists():
        wait.wait(0.02)
    server.send(signal.SIGTERM)
    server.wait_for_log("shutdown step: pre-drain delay")
    # A fresh connection each time (a client behind a load balancer that has not caught up):
    # served normally during the delay, refused at connect once the listener is closed.
    assert status_code(f"{server.base_url}/ping", timeout=2) == 200
    assert "shutdown step: stop accepting" not in server.output  # still within the delay
    server.wait_for_log("shutdown step: stop accepting")
    assert status_code(f"{server.base_url}/ping", timeout=2) == "ConnectError"
    threads[0].join()
    assert results == [200]  # in-flight work completed
    assert server.wait_exit(10) == 0, server.output


@pytest.mark.parametrize("mode", ["serve", "refuse"])
@pytest.mark.parametrize("kind", SERVERS)
def test_health_endpoints_answer_during_a_drain(control_server, runtime_env, kind, mode):
    server = control_server(kind, env={"GRACEFUL_DRAIN_MODE": mode})
    [reply] = control_request(runtime_env, server.process.pid, b'{"op": "drain"}\n')
    assert reply["status"]["delay_over"] is True
    assert reply["status"]["refusing"] is (mode == "refuse")
    ready = httpx.get(f"{server.base_url}/healthz/ready")
    assert ready.status_code == 503
    assert ready.json() == {
        "status": "unavailable",
        "phase": "draining",
        "requests": 0,
        "websockets": 0,
        "tasks": 0,
    }
    assert ready.headers["cache-control"] == "no-store"
    assert httpx.get(f"{server.base_url}/healthz/live").json()["status"] == "ok"
    # Probes are not tracked as in-flight work, so they cannot hold a drain up.
    [reply] = control_request(runtime_env, server.process.pid, b'{"op": "status"}\n')
    assert reply["status"]["requests"] == 0 and reply["status"]["drained"] is True
    ping = httpx.get(f"{server.base_url}/ping")
    # Served, and the client told to take its next request elsewhere; or refused.
    assert ping.status_code == (503 if mode == "refuse" else 200)
    assert ping.headers["connection"] == "close"
    assert "Service Unavailable: /healthz/ready" not in server.output  # not logged as an error


@pytest.mark.django_db
def test_health_endpoints_never_touch_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        ready = client.get("/healthz/ready")
        live = client.get("/healthz/live")
    assert (ready.status_code, live.status_code) == (200, 200)
    assert ready.json()["phase"] == "running"
