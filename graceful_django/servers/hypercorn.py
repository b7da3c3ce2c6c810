"""Taking over hypercorn's shutdown, so that one sequence runs instead of two.

hypercorn (`hypercorn/asyncio/run.py` `worker_serve`) waits on a shutdown trigger, then
closes its listeners, waits `graceful_timeout` (3 s) for the connections and cancels the
rest (websockets get 1011 and the log a CancelledError), and only then sends lifespan
shutdown. Its trigger is either its own `loop.add_signal_handler` (`--workers 0`), which
runs through the loop's wakeup fd alongside any `signal.signal` handler, or a
multiprocessing event set by the master process (the default, one worker or more).

At lifespan startup `worker_serve` is suspended before it uses its trigger, so the trigger
can be swapped for an event that our `finish()` sets: hypercorn's own sequence then runs
after ours, over connections that are already drained, and exits at once.
"""

from __future__ import annotations

import asyncio
import functools
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from ..core.coordinator import Coordinator
from ..core.deadline import Deadline
from ..core.exiting import exit_now
from .base import ServerAdapter, let_idle_clients_settle
from .listeners import close_listener

HYPERCORN_SIGNALS = (signal.SIGINT, signal.SIGTERM)
POLLED_TRIGGER = "check_multiprocess_shutdown_event"


def current_hypercorn_task() -> asyncio.Task[Any] | None:
    """The task running hypercorn's `worker_serve` in this loop, if hypercorn serves."""
    run = sys.modules.get("hypercorn.asyncio.run")
    if run is None:
        return None
    code = run.worker_serve.__code__
    for task in asyncio.all_tasks():
        if getattr(task.get_coro(), "cr_code", None) is code:
            return task
    return None


class UnknownTrigger(Exception):
    pass


class HypercornAdapter(ServerAdapter):
    name = "hypercorn"

    def __init__(self, task: asyncio.Task[Any], coordinator: Coordinator) -> None:
        self.task = task
        self.coordinator = coordinator
        self.released = asyncio.Event()
        self.master_event: Any = None
        self._pending: set[asyncio.Task[Any]] = set()
        self._take_over_trigger()

    @property
    def _locals(self) -> dict[str, Any]:
        # Read each time: `servers` and `context` only exist once the listeners are up.
        frame: FrameType | None = getattr(self.task.get_coro(), "cr_frame", None)
        return frame.f_locals if frame is not None else {}

    def _take_over_trigger(self) -> None:
        trigger = self._locals.get("shutdown_trigger")
        polls_master = getattr(getattr(trigger, "func", None), "__name__", "") == POLLED_TRIGGER
        if isinstance(trigger, functools.partial) and trigger.args and polls_master:
            # The master's event, polled every 0.1 s by `check_multiprocess_shutdown_event`;
            # from now on hypercorn waits for our sequence instead.
            self.master_event = trigger.args[0]
            trigger.__setstate__((self.released.wait, (), {}, None))  # type: ignore[attr-defined]
            return
        owner = getattr(trigger, "__self__", None)
        if isinstance(owner, asyncio.Event):
            # `--workers 0`: hypercorn's loop signal handlers set this event. Removing them
            # also stops the wakeup fd, so only our `signal.signal` handlers run.
            loop = asyncio.get_running_loop()
            for signum in HYPERCORN_SIGNALS:
                loop.remove_signal_handler(signum)
            self.released = owner
            return
        raise UnknownTrigger(f"hypercorn's shutdown trigger {trigger!r} is not one we know")

    def watch(self, on_shutdown: Callable[[], object]) -> None:
        """With workers, the signal reaches the master only: start when it tells us."""
        event = self.master_event
        if event is None:
            return
        loop = asyncio.get_running_loop()

        def wait() -> None:
            event.wait()
            loop.call_soon_threadsafe(on_shutdown)

        threading.Thread(target=wait, name="graceful-hypercorn-master", daemon=True).start()

    def stop_accepting(self) -> None:
        # `--workers 0`: the listening socket is ours alone, closing it refuses at once.
        # With workers the master holds the same socket, and closing our copy leaves its
        # queue to the others: on SIGHUP the master waits for every old worker, then starts
        # new ones, which take what queued meanwhile. Serving on instead would keep the
        # drain going as long as the load lasts (until the serving cutoff, then 503s).
        # A full stop leaves what queues after the last worker's close to the master,
        # which resets it at exit, as plain hypercorn does.
        for listener in self._locals.get("servers", []):
            close_listener(listener)

    async def close_connections(self, deadline: Deadline) -> list[str]:
        context = self._locals.get("context")
        if context is not None:
            # hypercorn's connections do not say when they went idle; none went idle later
            # than the last response that may have left without `Connection: close` ended.
            await let_idle_clients_settle(self.coordinator.kept_alive_age(), deadline)
            # hypercorn's own "terminated" state: idle keep-alive connections close now, and
            # each response in progress is the last of its connection. (It also closes each
            # new connection before reading its request: the listener is closed by now.)
            self._run(context.terminated.set())
        return []

    def _run(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def finish(self, exit_code: int) -> None:
        # hypercorn's sequence now finds nothing left to wait for; once `worker_serve`
        # returns, skip asyncio's cleanup, which would wait without a limit for any
        # abandoned task that ignores its cancellation.
        self.task.add_done_callback(lambda _: exit_now(exit_code))
        self.released.set()
