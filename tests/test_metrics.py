"""Metrics are exported through django-prometheus' /metrics view, also during a drain."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest

from graceful_django.core.sequence import Report, StepOutcome
from graceful_django.metrics import push
from graceful_django.state import get_state
from graceful_django.testing import draining
from tests.operations import (
    control_request,
    served_and_closed,
    start_slow_requests,
    status_code,
    wait_status,
)
from tests.servers import PUSHGATEWAY, ROOT, Pushgateway, free_port


@pytest.fixture(autouse=True)
def metrics_started() -> None:
    """As a server does when it arms (nothing creates them in other processes)."""
    get_state().start_metrics()


def scrape(client) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.django_db
def test_in_flight_and_ready_are_exported(client):
    ticket = get_state().coordinator.requests.open("GET /x")
    try:
        text = scrape(client)
    finally:
        get_state().coordinator.requests.close(ticket)
    # The scrape itself is in flight too (tracked by the middleware).
    assert 'graceful_django_in_flight{kind="request"} 2.0' in text
    assert "graceful_django_ready 1.0" in text


@pytest.mark.django_db
def test_readiness_gauge_and_refusals_follow_a_drain(client):
    refused_before = get_state().metrics.refused._value.get()
    with draining():
        assert client.get("/ping").status_code == 503
        assert get_state().metrics.ready._value.get() == 0
    assert get_state().metrics.refused._value.get() == refused_before + 1
    assert "graceful_django_ready 1.0" in scrape(client)


def test_a_report_is_recorded_by_step():
    report = Report(timeout=30, outcomes=[StepOutcome("close websockets", 0.2, forced=["ws /a"])])
    get_state().metrics.record(report)
    forced = get_state().metrics.forced.labels("close websockets")._value.get()
    assert forced >= 1


def test_a_failed_push_is_logged_and_not_raised(caplog):
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with caplog.at_level(logging.WARNING, logger="graceful_django"):
        push(get_state().metrics, dead, timeout=2)
    assert f"pushing the shutdown metrics to {dead} failed" in caplog.text


def test_metrics_and_probes_are_served_through_a_drain(control_server, runtime_env):
    server = control_server("daphne")
    pid = server.process.pid
    threads, results = start_slow_requests([f"{server.base_url}/slow/async?seconds=3&token=m"])
    wait_status(runtime_env, pid, lambda status: status["requests"] == 1)
    assert control_request(runtime_env, pid, b'{"op": "drain"}\n')[0]["ok"]

    scrape = httpx.get(f"{server.base_url}/metrics", timeout=10)
    assert scrape.status_code == 200
    assert "graceful_django_ready 0.0" in scrape.text
    # The scrape itself is untracked: the one slow request is all that holds the drain.
    assert 'graceful_django_in_flight{kind="request"} 1.0' in scrape.text
    assert status_code(f"{server.base_url}/healthz/ready") == 503
    assert status_code(f"{server.base_url}/healthz/live") == 200
    assert served_and_closed(f"{server.base_url}/ping")  # drained: served, then closed
    threads[0].join()
    assert results == [200]


def test_manage_py_check_leaves_no_series_in_multiprocess_mode():
    directory = tempfile.mkdtemp(prefix="gd-prom-")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    env["PROMETHEUS_MULTIPROC_DIR"] = directory
    checked = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    left = sorted(path.name for path in Path(directory).iterdir())
    for name in left:
        (Path(directory) / name).unlink()
    os.rmdir(directory)
    assert left == []


@pytest.mark.skipif(
    PUSHGATEWAY is None,
    reason="prometheus-pushgateway is not installed (apt-get install prometheus-pushgateway)",
)
def test_the_shutdown_metrics_are_pushed_to_a_pushgateway(server_factory):
    gateway = Pushgateway().start()
    try:
        server = server_factory("daphne", env={"TEST_PUSHGATEWAY": gateway.base_url})
        pid = server.process.pid
        server.send(signal.SIGTERM)
        assert server.wait_exit(30) == 0, server.output
        pushed = httpx.get(f"{gateway.base_url}/metrics", timeout=10).text
    finally:
        gateway.kill()
    assert f"pushed the shutdown metrics to {gateway.base_url}" in server.output
    # The Pushgateway sorts the labels: instance, job, then the metric's own, then pid.
    group = f'instance="{os.uname().nodename}",job="graceful_django"'
    assert (
        f'graceful_django_shutdowns_total{{{group},outcome="completed",pid="{pid}"}} 1' in pushed
    ), pushed
    assert f'graceful_django_shutdown_duration_seconds_count{{{group},pid="{pid}"}} 1' in pushed
    step = f'{group},pid="{pid}",step="run hooks"'
    assert f"graceful_django_shutdown_step_duration_seconds_count{{{step}}} 1" in pushed


@pytest.mark.django_db
def test_the_scrape_is_untracked_and_is_draining_answers_once_readiness_fails(client):
    import graceful_django

    assert graceful_django.is_draining() is False
    with draining(refuse=False):  # the pre-drain delay: readiness fails, requests served
        assert graceful_django.is_draining() is True
        text = scrape(client)
        assert client.get("/healthz/ready").status_code == 503
    assert 'graceful_django_in_flight{kind="request"} 0.0' in text
    assert graceful_django.is_draining() is False
