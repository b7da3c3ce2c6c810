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
import contextvars
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from asgiref.sync import SyncToAsync
from django.db import connections

from .conf import conf
from .core.background import BackgroundThread, BackgroundWork, ShuttingDown
from .core.coordinator import get_coordinator
from .core.deadline import Deadline

__all__ = ["BackgroundThread", "ShuttingDown", "start_task", "start_thread", "cancel_all"]


def _server_loop() -> asyncio.AbstractEventLoop | None:
    from .lifecycle import get_lifecycle  # lifecycle imports the steps, which import us

    return get_lifecycle().loop


def _task_context() -> contextvars.Context:
    """The caller's context, minus the request's thread-sensitive executor.

    A task outlives the request that started it; with the request's context asgiref would
    give its ORM calls a new executor thread (and database connection) per finished
    request, never shut down. Without it they use asgiref's one shared sync thread.
    """
    context = contextvars.copy_context()
    context.run(SyncToAsync.thread_sensitive_context.set, None)  # type: ignore[arg-type]
    return context


def _new_work() -> BackgroundWork:
    # Threads close the database connections they opened, as Django does after a request.
    return BackgroundWork(
        lambda: get_coordinator().tasks, _server_loop, connections.close_all, _task_context
    )


_work = _new_work()


def get_background_work() -> BackgroundWork:
    return _work


def reset_background_work() -> BackgroundWork:
    """A fresh registry, for tests that run several shutdowns in one process."""
    global _work
    _work = _new_work()
    return _work


def start_task(
    coro: Coroutine[Any, Any, Any], *, name: str | None = None, shield: bool = False
) -> asyncio.Task[Any] | concurrent.futures.Future[Any]:
    """Run `coro` on the server's loop, tracked; cancelled at shutdown unless `shield`.

    Returns the Task when called on the loop (async views, consumers), else (sync views) a
    `concurrent.futures.Future` of its result. Raises `ShuttingDown` once tasks were cancelled.
    """
    return _work.start_task(coro, name=name, shield=shield)


def start_thread(
    target: Callable[[threading.Event], Any], *, name: str | None = None
) -> BackgroundThread:
    """Run `target(stop_event)` in a tracked daemon thread; it must return once the event is set."""
    return _work.start_thread(target, name=name)


async def cancel_all(deadline: Deadline) -> list[str]:
    """The core's "cancel background tasks" step."""
    return await _work.cancel_all(deadline, float(conf.GRACEFUL_TASK_TIMEOUT))
