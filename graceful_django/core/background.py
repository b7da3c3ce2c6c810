"""Tracked background work, and stopping it on one deadline. Knows nothing of Django.

asyncio tasks run on the server's loop; a task started from another thread (a sync view)
is handed to the loop with `call_soon_threadsafe`. Threads are daemons that receive a
`threading.Event` to watch. At shutdown plain tasks are cancelled, threads told to stop,
and both awaited up to their share of the deadline; shielded (must-finish) tasks are not
cancelled but awaited up to the deadline itself. Waiting wakes on completion, never polls.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import logging
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from .deadline import Deadline
from .tracker import Ticket, Tracker

logger = logging.getLogger("graceful_django")

LoopGetter = Callable[[], "asyncio.AbstractEventLoop | None"]


class ShuttingDown(RuntimeError):
    """Raised by `start_task`/`start_thread` once the background work was told to stop."""


@dataclass
class TaskInfo:
    name: str
    shield: bool
    ticket: Ticket


class BackgroundThread:
    """A daemon thread running `target(stop_event)`; `stop()` sets the event it watches."""

    def __init__(self, name: str, target: Callable[[threading.Event], Any]) -> None:
        self.name = name
        self.target = target
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"graceful-bg-{name}", daemon=True)
        self.on_exit: list[Callable[[], Any]] = []

    def stop(self) -> None:
        self.stop_event.set()

    def _run(self) -> None:
        try:
            self.target(self.stop_event)
        except Exception:
            logger.exception("background thread %s failed", self.name)
        finally:
            for callback in self.on_exit:
                callback()


class BackgroundWork:
    def __init__(
        self,
        tracker: Tracker,
        loop: LoopGetter,
        on_thread_exit: Callable[[], Any] | None = None,
        task_context: Callable[[], contextvars.Context] | None = None,
    ) -> None:
        self._tracker = tracker
        self._loop = loop
        self._on_thread_exit = on_thread_exit
        self._task_context = task_context or contextvars.copy_context
        self._tasks: dict[asyncio.Task[Any], TaskInfo] = {}
        self._threads: set[BackgroundThread] = set()
        # Its own tracker, so that the shutdown can wait for the threads alone, woken by
        # the last one to return.
        self._running_threads = Tracker("thread")
        self._lock = threading.Lock()
        self.stopping = False

    def start_task(
        self, coro: Coroutine[Any, Any, Any], *, name: str | None = None, shield: bool = False
    ) -> asyncio.Task[Any] | concurrent.futures.Future[Any]:
        """The Task when called on the server's loop, else a concurrent Future of its result."""
        task_name = name or str(getattr(coro, "__qualname__", "task"))
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        loop = self._loop() or running
        if loop is None or self.stopping:
            coro.close()
            if loop is None:
                raise RuntimeError(f"cannot start {task_name}: no server event loop is running")
            raise ShuttingDown(f"cannot start {task_name}: the server is shutting down")
        ticket = self._tracker.open(f"task {task_name}")
        if loop is running:
            return self._spawn(loop, coro, TaskInfo(task_name, shield, ticket))
        result: concurrent.futures.Future[Any] = concurrent.futures.Future()
        info = TaskInfo(task_name, shield, ticket)
        loop.call_soon_threadsafe(self._spawn_from_thread, loop, coro, info, result)
        return result

    def _spawn(
        self, loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], info: TaskInfo
    ) -> asyncio.Task[Any]:
        task = loop.create_task(coro, name=info.name, context=self._task_context())
        self._tasks[task] = info
        task.add_done_callback(self._task_done)
        return task

    def _spawn_from_thread(
        self,
        loop: asyncio.AbstractEventLoop,
        coro: Coroutine[Any, Any, Any],
        info: TaskInfo,
        result: concurrent.futures.Future[Any],
    ) -> None:
        if self.stopping:  # cancel_all already took its list: this one would escape it
            coro.close()
            self._tracker.close(info.ticket)
            result.set_exception(ShuttingDown(f"cannot start {info.name}: shutting down"))
            return
        task = self._spawn(loop, coro, info)
        task.add_done_callback(lambda done: _copy_outcome(done, result))

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        info = self._tasks.pop(task, None)
        if info is not None:
            self._tracker.close(info.ticket)
        if not task.cancelled() and task.exception() is not None:
            logger.error("background task %s failed", task.get_name(), exc_info=task.exception())

    def start_thread(
        self, target: Callable[[threading.Event], Any], *, name: str | None = None
    ) -> BackgroundThread:
        """Run `target(stop_event)` in a daemon thread; it should return once the event is set."""
        thread_name = name or str(getattr(target, "__qualname__", "thread"))
        if self.stopping:
            raise ShuttingDown(f"cannot start {thread_name}: the server is shutting down")
        handle = BackgroundThread(thread_name, target)
        ticket = self._tracker.open(f"thread {thread_name}")
        running = self._running_threads.open(thread_name)
        if self._on_thread_exit is not None:
            handle.on_exit.append(self._on_thread_exit)
        handle.on_exit.append(lambda: self._thread_done(handle, ticket, running))
        with self._lock:
            self._threads.add(handle)
        handle.thread.start()
        return handle

    def _thread_done(self, handle: BackgroundThread, ticket: Ticket, running: Ticket) -> None:
        with self._lock:
            self._threads.discard(handle)
        self._tracker.close(ticket)
        self._running_threads.close(running)

    async def cancel_all(self, deadline: Deadline, timeout: float) -> list[str]:
        """Stop everything; return a name for each that is still running when its time is up."""
        self.stopping = True
        tasks = dict(self._tasks)
        with self._lock:
            threads = list(self._threads)
        plain = {task: info for task, info in tasks.items() if not info.shield}
        shielded = {task: info for task, info in tasks.items() if info.shield}
        if not tasks and not threads:
            return []
        logger.info(
            "cancelling %d background task(s), stopping %d thread(s), awaiting %d shielded",
            len(plain),
            len(threads),
            len(shielded),
        )
        for task in plain:
            task.cancel()
        for handle in threads:
            handle.stop()
        share = deadline.share(timeout)
        forced: list[str] = []

        async def tasks_stopped() -> None:
            if plain:
                await asyncio.wait(plain, timeout=share)

        await asyncio.gather(tasks_stopped(), self._running_threads.wait_empty(share))
        forced += [
            f"task {info.name} ignored cancellation"
            for task, info in plain.items()
            if not task.done()
        ]
        with self._lock:
            forced += [
                f"thread {handle.name} ignored its stop event"
                for handle in threads
                if handle in self._threads
            ]
        if shielded:
            await asyncio.wait(shielded, timeout=deadline.remaining())
            forced += [
                f"shielded task {info.name} did not finish"
                for task, info in shielded.items()
                if not task.done()
            ]
        for name in forced:
            logger.error("background work abandoned: %s", name)
        return forced


def _copy_outcome(task: asyncio.Task[Any], result: concurrent.futures.Future[Any]) -> None:
    if result.done():
        return
    if task.cancelled():
        result.cancel()
    elif task.exception() is not None:
        result.set_exception(task.exception())
    else:
        result.set_result(task.result())
