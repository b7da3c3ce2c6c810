"""Test-only receivers, switched on by environment variables of the server process."""

from __future__ import annotations

import os
import sys
from typing import Any

from django.dispatch import receiver

from graceful_django.signals import server_started, shutdown_finished, shutdown_started


@receiver(shutdown_finished)
def report_backends_left(sender: Any, report: Any, **kwargs: Any) -> None:
    """Counts, from an independent connection, this process's backends still open at the end."""
    application_name = os.environ.get("REPORT_BACKENDS_OF")
    if not application_name:
        return
    import psycopg

    with psycopg.connect(os.environ["DATABASE_URL"], application_name="graceful-observer") as conn:
        rows = conn.execute(
            "SELECT pid, state, backend_start, query FROM pg_stat_activity"
            " WHERE application_name = %s",
            [application_name],
        ).fetchall()
    print(f"BACKENDS_AT_EXIT={len(rows)} {rows}", file=sys.stderr, flush=True)


def _raise(sender: Any, **kwargs: Any) -> None:
    raise RuntimeError("a receiver that raises")


if os.environ.get("TEST_RAISING_RECEIVERS"):
    for _signal in (server_started, shutdown_started, shutdown_finished):
        _signal.connect(_raise, weak=False, dispatch_uid=f"tests.raising.{id(_signal)}")
