"""Channels' `manage.py runworker`: a process with consumers and no connections.

asgiref's `StatelessServer.run()` is `asyncio.run(...)` with no signal handling of its own:
SIGTERM kills it mid-message (status -15), Ctrl+C raises KeyboardInterrupt wherever the
loop is. Our handlers run the shutdown sequence on the worker's loop instead (tasks
cancelled, hooks run, database connections closed), then cancel the consumers and exit 0.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from ..core.exiting import EXIT_OK, exit_now
from ..lifecycle import Lifecycle
from ..os_signals import HANDLED_SIGNALS
from .base import ServerAdapter
from .detect import RUNWORKER_LOADERS, loaded_by

logger = logging.getLogger("graceful_django")

# How long consumers get to finish their cancellation (sync consumers end their thread).
CONSUMER_CANCEL_TIMEOUT = 1.0


def current_worker() -> Any | None:
    """The asgiref `StatelessServer` whose `arun()` runs in this loop."""
    server_module = sys.modules.get("asgiref.server")
    if server_module is None:
        return None
    code = server_module.StatelessServer.arun.__code__
    for task in asyncio.all_tasks():
        frame = getattr(task.get_coro(), "cr_frame", None)
        if frame is not None and frame.f_code is code:
            return frame.f_locals.get("self")
    return None


class RunworkerAdapter(ServerAdapter):
    name = "runworker"

    def stop_accepting(self) -> None:
        # The listeners stay: cancelling one ends the worker's main task, and asyncio.run
        # would then cancel this very sequence. Messages still queued on the channel layer
        # wait there for the next worker.
        pass

    async def finish(self, exit_code: int) -> None:
        worker = current_worker()
        instances = getattr(worker, "application_instances", {}).values()
        futures = [details["future"] for details in instances if not details["future"].done()]
        for future in futures:
            future.cancel()
        if futures:
            await asyncio.wait(futures, timeout=CONSUMER_CANCEL_TIMEOUT)
        exit_now(exit_code)


def running_under_runworker() -> bool:
    """Channels' runworker is loading the application, in the main thread."""
    return loaded_by(RUNWORKER_LOADERS) and threading.current_thread() is threading.main_thread()


def arm_under_runworker(
    lifecycle: Lifecycle, attach: Callable[[ServerAdapter, asyncio.AbstractEventLoop], None]
) -> None:
    """At import time, in the main thread: the worker's loop does not run yet."""

    def on_signal(signum: int, frame: FrameType | None) -> None:
        # Handlers run in the main thread, which is the one running the worker's loop.
        loop = asyncio._get_running_loop()
        if loop is None:
            # The worker has not started: no consumer, nothing to wait for.
            os._exit(EXIT_OK)
        lifecycle.signals.received += 1  # so that a second signal forces the exit

        def start() -> None:
            attach(RunworkerAdapter(), loop)
            lifecycle.request_shutdown(signum)

        loop.call_soon_threadsafe(start)

    for signum in HANDLED_SIGNALS:
        signal.signal(signum, on_signal)
    logger.info("runworker: signal handlers installed (pid %s)", os.getpid())
