"""Prometheus metrics, all defined here, exported by django-prometheus' /metrics view.

Safe in Prometheus multiprocess mode (PROMETHEUS_MULTIPROC_DIR): gauges are moved by
increments as work opens and closes rather than computed at scrape time, with a
multiprocess mode that sums live processes (in flight) or keeps one series per process
(ready).

They are created only in server processes, when the server arms (`state.start_metrics`):
in multiprocess mode a metric leaves its file behind, so a `manage.py check` must not make
one. Until then, and without prometheus_client (`graceful-django[prometheus]`), the same
objects exist and record nothing, so no caller has to ask.

The shutdown's own metrics are recorded as the process ends: a scrape never sees them in
single-process mode, so they can be pushed to a Pushgateway (`push`).
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from .core.coordinator import Coordinator
from .core.sequence import Report

logger = logging.getLogger("graceful_django")

PUSH_JOB = "graceful_django"

SHUTDOWN_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120)

try:
    from prometheus_client import Counter, Gauge, Histogram

    PROMETHEUS = True
except ImportError:  # pragma: no cover - exercised by the lowest-dependencies job
    PROMETHEUS = False


class Unrecorded:
    """Stands for a metric when prometheus_client is not installed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def labels(self, *args: Any) -> Unrecorded:
        return self

    def inc(self, amount: float = 1) -> None:
        pass

    def set(self, value: float) -> None:
        pass

    def observe(self, value: float) -> None:
        pass


if not PROMETHEUS:
    Counter = Gauge = Histogram = Unrecorded  # type: ignore[assignment,misc]


class Metrics:
    """Recording ones are created once per process, by `state.ProcessState.start_metrics`
    (Prometheus registers each name once); `Metrics(recording=False)` records nothing."""

    def __init__(self, *, recording: bool = True) -> None:
        kinds: tuple[Any, Any, Any] = (
            (Gauge, Counter, Histogram) if recording else (Unrecorded, Unrecorded, Unrecorded)
        )
        gauge, counter, histogram = kinds
        self.in_flight = gauge(
            "graceful_django_in_flight",
            "Work in flight in this process, by kind (request, websocket, task).",
            ["kind"],
            multiprocess_mode="livesum",
        )
        self.ready = gauge(
            "graceful_django_ready",
            "1 while this process serves and passes readiness, 0 from the start of a drain.",
            multiprocess_mode="liveall",
        )
        self.refused = counter(
            "graceful_django_refused_requests_total",
            "Requests and websocket handshakes refused with 503 during a drain.",
        )
        self.shutdowns = counter(
            "graceful_django_shutdowns_total",
            "Graceful shutdowns run, by outcome (completed, deadline).",
            ["outcome"],
        )
        self.shutdown_duration = histogram(
            "graceful_django_shutdown_duration_seconds",
            "Time from the signal to the end of the shutdown sequence.",
            buckets=SHUTDOWN_BUCKETS,
        )
        self.step_duration = histogram(
            "graceful_django_shutdown_step_duration_seconds",
            "Time each shutdown step took.",
            ["step"],
            buckets=SHUTDOWN_BUCKETS,
        )
        self.forced = counter(
            "graceful_django_forced_total",
            "Things a shutdown step had to force (requests, sockets, tasks, hooks).",
            ["step"],
        )

    def watch(self, coordinator: Coordinator) -> None:
        """Follow the coordinator's counts and phase from now on."""
        for tracker in coordinator.trackers().values():
            gauge = self.in_flight.labels(tracker.kind)
            tracker.observers.append(gauge.inc)
        self.ready.set(1 if coordinator.ready else 0)
        coordinator.on_change(lambda changed: self.ready.set(1 if changed.ready else 0))

    def record(self, report: Report) -> None:
        self.shutdowns.labels("deadline" if report.deadline_reached else "completed").inc()
        self.shutdown_duration.observe(report.seconds)
        for outcome in report.outcomes:
            self.step_duration.labels(outcome.name).observe(outcome.seconds)
            if outcome.forced:
                self.forced.labels(outcome.name).inc(len(outcome.forced))


def push(metrics: Metrics, gateway: str, timeout: float) -> None:
    """Push every graceful_django metric to a Pushgateway; a failure is logged, never raised.

    Grouped by host and pid: a restarted process must not replace its predecessor's last
    shutdown, which is the one an operator looks for.
    """
    from prometheus_client import CollectorRegistry, push_to_gateway

    # Ours alone: the default registry's process and Django series are the scrape's business.
    registry = CollectorRegistry()
    for metric in vars(metrics).values():
        registry.register(metric)
    key = {"instance": socket.gethostname(), "pid": str(os.getpid())}
    try:
        push_to_gateway(gateway, PUSH_JOB, registry, grouping_key=key, timeout=timeout)
    except Exception as error:  # urllib: URLError, HTTPError, TimeoutError, OSError
        logger.warning("pushing the shutdown metrics to %s failed: %s", gateway, error)
    else:
        logger.info("pushed the shutdown metrics to %s (job %s)", gateway, PUSH_JOB)
