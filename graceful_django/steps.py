"""The shutdown steps in their order, built from the settings.

run before-drain hooks -> pre-drain delay -> stop accepting -> close websockets ->
drain requests -> cancel background tasks -> run hooks by priority -> close connections ->
close database connections. The before-drain hooks (deregistration, telling peers) run
while the server still serves; the connections close after the hooks, serving whatever
request is already in their buffers, and the database closes last, once nothing can use
it any more.
"""

from __future__ import annotations

import functools
import time

from asgiref.sync import sync_to_async

from . import db, hooks
from .conf import conf
from .core.deadline import Deadline
from .core.sequence import Step
from .hooks import AFTER_DRAIN
from .hooks.before_drain import BeforeDrainHooks
from .servers.base import ServerAdapter
from .state import ProcessState
from .websockets.closing import close_all as close_all_websockets

# Kept from the hooks' share of the deadline for the step after them: closing every
# database connection takes milliseconds, and must happen even when a hook hangs.
DATABASE_CLOSE_RESERVE = 0.25


def build_steps(
    state: ProcessState, adapter: ServerAdapter, before_drain: BeforeDrainHooks | None = None
) -> list[Step]:
    coordinator = state.coordinator
    before_drain = before_drain or BeforeDrainHooks(state.lifecycle.progress)

    async def run_before_drain_hooks(deadline: Deadline) -> list[str]:
        # Once per drain: a `manage.py drain` (preStop) may have started them already.
        return await before_drain.finished(deadline)

    async def pre_drain_delay(deadline: Deadline) -> list[str]:
        # Readiness already fails; load balancers need this long to stop sending traffic.
        # Counted from the signal: the time the before-drain hooks took was part of it. A
        # `manage.py drain` (preStop) may have started it: then only what is left of it.
        waited = time.monotonic() - deadline.started
        delay = max(0.0, float(conf.GRACEFUL_PRE_DRAIN_DELAY) - waited)
        state.pre_drain.start(deadline.share(delay))
        await state.pre_drain.wait(deadline.remaining())
        return []

    async def stop_accepting(deadline: Deadline) -> list[str]:
        # What still reaches the process from now on (kept-alive connections, the backlog, a
        # listening socket shared with other processes) is served with Connection: close,
        # unless the user asked for the 503 of "refuse" mode.
        coordinator.end_delay(refuse=conf.refuses_when_draining)
        adapter.stop_accepting()
        return []

    async def close_websockets(deadline: Deadline) -> list[str]:
        return await close_all_websockets(state.websockets, deadline)

    async def drain_requests(deadline: Deadline) -> list[str]:
        if await coordinator.requests.wait_empty(deadline.remaining()):
            return []
        return coordinator.requests.labels()

    async def cancel_tasks(deadline: Deadline) -> list[str]:
        return await state.background.cancel_all(deadline, float(conf.GRACEFUL_TASK_TIMEOUT))

    async def run_hooks(deadline: Deadline) -> list[str]:
        return await hooks.run_all(
            deadline, state.lifecycle.progress, DATABASE_CLOSE_RESERVE, phase=AFTER_DRAIN
        )

    async def close_databases(deadline: Deadline) -> list[str]:
        # thread_sensitive=False: the main sync thread may be the one still stuck.
        close = functools.partial(db.close_all_connections, state.databases)
        return await sync_to_async(close, thread_sensitive=False)()

    async def close_connections(deadline: Deadline) -> list[str]:
        return await adapter.close_connections(deadline)

    accept_and_close = [
        Step("stop accepting", stop_accepting),
        Step("close websockets", close_websockets),
    ]
    if adapter.close_websockets_before_stop_accepting:
        accept_and_close.reverse()
    return [
        Step("run before-drain hooks", run_before_drain_hooks),
        Step("pre-drain delay", pre_drain_delay),
        *accept_and_close,
        Step("drain requests", drain_requests),
        Step("cancel background tasks", cancel_tasks),
        Step("run hooks", run_hooks),
        # Until here a client sending on an idle connection is served, not met with an EOF;
        # what is in a connection's buffer when it closes is served too.
        Step("close connections", close_connections),
        # Last: the requests served while the connections closed may have used the database.
        Step("close database connections", close_databases),
    ]
