"""Test-only receivers, switched on by environment variables of the server process."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from django.dispatch import receiver

from graceful_django.signals import server_started, shutdown_finished, shutdown_started


@receiver(shutdown_finished)
def report_backends_left(sender: Any, report: Any, **kwargs: Any) -> None:
    """Counts, from an independent connection, this process's backends still open at the end."""
    application_name = os.environ.get("REPORT_BACKENDS_OF")
    if not application_name:
        return
    if os.environ.get("REPORT_BACKENDS_PER_PROCESS"):
        application_name += f"-{os.getpid()}"  # as tests/settings.py names them
    import psycopg

    query = (
        "SELECT pid, state, backend_start, query FROM pg_stat_activity WHERE application_name = %s"
    )
    # Autocommit: within a transaction PostgreSQL answers from one snapshot of the activity.
    with psycopg.connect(
        os.environ["DATABASE_URL"], application_name="graceful-observer", autocommit=True
    ) as conn:
        rows = conn.execute(query, [application_name]).fetchall()
        # A backend whose client just closed its connection is still listed for a few ms,
        # until PostgreSQL notices; one this process still holds open stays listed.
        settled_by = time.monotonic() + 1.0
        while rows and time.monotonic() < settled_by:
            time.sleep(0.02)  # PostgreSQL tells nobody when a backend has exited
            rows = conn.execute(query, [application_name]).fetchall()
    # One write with its newline: unbuffered, print() writes the end apart, and two workers
    # sharing the pipe then put their lines on one.
    sys.stderr.write(f"BACKENDS_AT_EXIT={len(rows)} {rows}\n")
    sys.stderr.flush()


def _raise(sender: Any, **kwargs: Any) -> None:
    raise RuntimeError("a receiver that raises")


if os.environ.get("TEST_RAISING_RECEIVERS"):
    for _signal in (server_started, shutdown_started, shutdown_finished):
        _signal.connect(_raise, weak=False, dispatch_uid=f"tests.raising.{id(_signal)}")


@receiver(server_started)
def block_when_refusing(sender: Any, **kwargs: Any) -> None:
    """TEST_BLOCK_WHEN_REFUSING=seconds: hold the loop just before the listener closes, so
    that a test can leave a connection in the kernel's backlog at that moment."""
    seconds = float(os.environ.get("TEST_BLOCK_WHEN_REFUSING") or 0)
    if not seconds:
        return
    from graceful_django.state import get_state

    blocked: list[bool] = []

    def listener(coordinator: Any) -> None:
        if coordinator.delay_over and not blocked:
            blocked.append(True)
            print("BLOCKING_BEFORE_STOP_ACCEPTING", flush=True)
            time.sleep(seconds)  # blocking on purpose: nothing accepts meanwhile

    get_state().coordinator.on_change(listener)


@receiver(server_started)
def block_at_step(sender: Any, **kwargs: Any) -> None:
    """TEST_BLOCK_AT_STEP=name: hold the loop for a second as that shutdown step starts (its
    log line is written in the loop, right before the step runs), so that a request sent
    meanwhile is still unread in its socket's buffer when the step runs."""
    step = os.environ.get("TEST_BLOCK_AT_STEP")
    if not step:
        return
    import logging

    class Blocker(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().endswith(f"shutdown step: {step}"):
                print(f"BLOCKING_AT_STEP {step}", flush=True)
                time.sleep(1)  # blocking on purpose: the loop reads nothing meanwhile

    logging.getLogger("graceful_django").addHandler(Blocker())
