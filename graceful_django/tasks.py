"""Start background work that the shutdown stops, from views and consumers.

    from graceful_django import tasks

    tasks.start_task(refresh_feed(user_id), name="refresh-feed")          # async or sync view
    tasks.start_task(write_audit(), name="audit", shield=True)            # must finish
    tasks.start_thread(poll_queue, name="poller")   # poll_queue(stop: threading.Event)

At shutdown ("cancel background tasks", after the requests drained and before the hooks
run) every plain task is cancelled and every thread's stop event set; they get
GRACEFUL_TASK_TIMEOUT seconds (within GRACEFUL_TIMEOUT) to end. Shielded tasks are awaited,
not cancelled, up to GRACEFUL_TIMEOUT. Whatever is still running is named in the log.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from .core.background import BackgroundThread, ShuttingDown
from .state import get_state

__all__ = ["BackgroundThread", "ShuttingDown", "start_task", "start_thread"]


def start_task(
    coro: Coroutine[Any, Any, Any], *, name: str | None = None, shield: bool = False
) -> asyncio.Task[Any] | concurrent.futures.Future[Any]:
    """Run `coro` on the server's loop, tracked; cancelled at shutdown unless `shield`.

    Returns the Task when called on the loop (async views, consumers), else (sync views) a
    `concurrent.futures.Future` of its result. Raises `ShuttingDown` once tasks were cancelled.
    """
    return get_state().background.start_task(coro, name=name, shield=shield)


def start_thread(
    target: Callable[[threading.Event], Any], *, name: str | None = None
) -> BackgroundThread:
    """Run `target(stop_event)` in a tracked daemon thread; it must return once the event is set."""
    return get_state().background.start_thread(target, name=name)
