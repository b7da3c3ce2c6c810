"""Runs shutdown hooks one after the other, each on its own timeout within the one deadline.

Knows nothing of Django. A sync hook runs in a daemon thread of its own: a thread cannot be
cancelled, so one that hangs is abandoned at its timeout, and being a daemon it cannot hold
up the exit either (the interpreter joins non-daemon threads, and the executors' workers,
before our atexit `os._exit` runs). An async hook runs as a task on the caller's loop and is
cancelled at its timeout, without waiting for a hook that swallows the cancellation.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from ..core.deadline import Deadline
from ..core.sequence import Progress
from .loading import Hook, in_running_order

logger = logging.getLogger("graceful_django")

# Wraps a sync hook's call inside its thread (the Django layer closes the thread's
# database connections after it).
SyncWrapper = Callable[[Callable[[], Any]], Callable[[], Any]]


class HookTimedOut(Exception):
    pass


async def run_hooks(
    hooks: Iterable[Hook],
    deadline: Deadline,
    default_timeout: float,
    sync_wrapper: SyncWrapper | None = None,
    progress: Progress | None = None,
    reserve: float = 0.0,
) -> list[str]:
    """Run them by priority; return "name: what went wrong" for each that did not finish.

    `reserve` seconds of the deadline are kept for the steps after the hooks (closing the
    database), so that a hook that hangs cannot make them miss it; `progress` tells the
    watchdog which hook runs and which would follow.
    """
    forced: list[str] = []
    ordered = in_running_order(hooks)
    for index, hook in enumerate(ordered):
        if deadline.share(None, reserve) <= 0.0:
            forced.append(f"{hook.name}: skipped, the deadline was reached")
            continue
        if progress is not None:
            later = [other.name for other in ordered[index + 1 :]]
            progress.detail = f"hook {hook.name} running" + (
                f", then {', '.join(later)}" if later else ""
            )
        own = hook.timeout if hook.timeout is not None else default_timeout
        timeout = deadline.share(own, reserve)
        logger.info(
            "hook %s started (priority %s, timeout %.3gs)", hook.name, hook.priority, timeout
        )
        started = time.monotonic()
        try:
            await run_hook(hook, timeout, sync_wrapper)
        except HookTimedOut:
            logger.error("hook %s timed out after %.3gs and was abandoned", hook.name, timeout)
            forced.append(f"{hook.name}: timed out after {timeout:.3g}s")
        except Exception as error:  # one broken hook must not keep the next from running
            logger.error(
                "hook %s raised after %.3fs", hook.name, time.monotonic() - started, exc_info=error
            )
            forced.append(f"{hook.name}: raised {type(error).__name__}: {error}")
        else:
            logger.info("hook %s finished in %.3fs", hook.name, time.monotonic() - started)
    return forced


async def run_hook(hook: Hook, timeout: float, sync_wrapper: SyncWrapper | None = None) -> None:
    """Run one hook; raise what it raised, or `HookTimedOut`."""
    started = time.monotonic()
    if hook.is_async:
        result: Any = hook.func()
    else:
        func = sync_wrapper(hook.func) if sync_wrapper else hook.func
        result = await _in_daemon_thread(func, f"graceful-hook-{hook.name}", timeout)
    if inspect.isawaitable(result):
        # An async hook, or a sync callable that returned a coroutine (a partial, an object
        # with `async def __call__`): awaited on this loop with what is left of its timeout.
        remaining = max(0.0, timeout - (time.monotonic() - started))
        await _awaited_on_loop(result, remaining)


async def _awaited_on_loop(awaitable: Any, timeout: float) -> None:
    task = asyncio.ensure_future(awaitable)
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if not done:
        # Not awaited after cancel(): a hook that swallows CancelledError must not hold us.
        task.cancel()
        task.add_done_callback(_consume)
        raise HookTimedOut
    task.result()


async def _in_daemon_thread(func: Callable[[], Any], name: str, timeout: float) -> Any:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def run() -> None:
        try:
            result = func()
        except BaseException as error:  # handed to the loop, which logs it
            _settle_threadsafe(loop, future, None, error)
        else:
            _settle_threadsafe(loop, future, result, None)

    threading.Thread(target=run, name=name, daemon=True).start()
    done, _ = await asyncio.wait({future}, timeout=timeout)
    if not done:
        future.cancel()  # what the thread hands over later is dropped
        raise HookTimedOut
    return future.result()


def _consume(task: asyncio.Future[Any]) -> None:
    """Retrieve an abandoned hook's late outcome, so asyncio does not report it as lost."""
    if not task.cancelled():
        task.exception()


def _settle_threadsafe(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[Any],
    result: Any,
    error: BaseException | None,
) -> None:
    try:
        loop.call_soon_threadsafe(_settle, future, result, error)
    except RuntimeError:
        pass  # the loop is closed: an abandoned hook finished after the server stopped


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
