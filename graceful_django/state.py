"""This process's graceful-shutdown state: one object, reached one way.

    from graceful_django.state import get_state

    get_state().coordinator.refusing

What one shutdown uses (the coordinator and its trackers, the lifecycle, the websocket
registry, the background work, the operations services) is replaced together by
`reset()`, for tests that run several shutdowns in one process, so nothing is left
pointing at an old coordinator. What mirrors the process itself (the database
connections and caches it opened, the Prometheus metrics, which can be registered only
once) lives as long as the process and is only re-attached.

What only a server needs starts when it arms (`on_server_started`): the metrics are
created and the operations services start.

Nothing below this module imports it: the engine and the steps take what they need as
arguments; the public entry points (the ASGI wrapper, the middleware, `tasks`, the
consumers, the health views, the built-in hooks, `testing`) reach it here.
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

from asgiref.sync import SyncToAsync
from django.db import connections

from .caches import SeenCaches
from .conf import conf
from .core.background import BackgroundWork
from .core.coordinator import Coordinator
from .core.pre_drain import PreDrain
from .core.sequence import Report
from .db import OpenedConnections
from .lifecycle import Lifecycle
from .metrics import Metrics, push
from .operations.services import Operations
from .servers.base import ServerAdapter
from .websockets.registry import Registry


def _task_context() -> contextvars.Context:
    """The caller's context, minus the request's thread-sensitive executor.

    A task outlives the request that started it; with the request's context asgiref would
    give its ORM calls a new executor thread (and database connection) per finished
    request, never shut down. Without it they use asgiref's one shared sync thread.
    """
    context = contextvars.copy_context()
    context.run(SyncToAsync.thread_sensitive_context.set, None)  # type: ignore[arg-type]
    return context


class ProcessState:
    coordinator: Coordinator
    pre_drain: PreDrain
    lifecycle: Lifecycle
    websockets: Registry
    background: BackgroundWork
    operations: Operations

    def __init__(self) -> None:
        self.databases = OpenedConnections()
        self.caches = SeenCaches()
        self._metrics: Metrics | None = None
        self._unrecorded = Metrics(recording=False)
        self.reset()

    def reset(self) -> None:
        """Fresh shutdown state, as in a process that has just started."""
        coordinator = Coordinator()
        self.coordinator = coordinator
        self.pre_drain = PreDrain(coordinator, lambda: conf.refuses_when_draining)
        self.lifecycle = Lifecycle(coordinator)
        self.websockets = Registry()
        # Threads close the database connections they opened, as Django does after a request.
        self.background = BackgroundWork(
            coordinator.tasks, lambda: self.lifecycle.loop, connections.close_all, _task_context
        )
        self.operations = Operations()
        if self._metrics is not None:
            self._metrics.watch(coordinator)

    @property
    def metrics(self) -> Metrics:
        """The process's metrics once started (they record nothing before)."""
        return self._metrics if self._metrics is not None else self._unrecorded

    def start_metrics(self) -> Metrics:
        """Create the metrics (once), following each coordinator the state gets from now on."""
        if self._metrics is None:
            self._metrics = Metrics()
            self._metrics.watch(self.coordinator)
        return self._metrics

    # Receivers of Django signals, connected in AppConfig.ready() (bound to this object,
    # which is never replaced, so they always reach the current state).
    def on_connection_created(self, sender: Any, connection: Any, **kwargs: Any) -> None:
        self.databases.remember(connection)

    def on_request_finished(self, **kwargs: Any) -> None:
        self.caches.remember_used()

    def on_server_started(
        self, sender: Any, loop: asyncio.AbstractEventLoop, adapter: ServerAdapter, **kwargs: Any
    ) -> None:
        self.start_metrics()
        self.operations.start(self.coordinator, self.pre_drain, adapter, loop)

    def on_shutdown_finished(self, sender: Any, report: Report, **kwargs: Any) -> None:
        self.operations.stop()
        if self._metrics is None:
            return
        self._metrics.record(report)
        gateway = conf.GRACEFUL_PUSHGATEWAY
        if gateway:
            # On the loop's thread, but the sequence is over; bounded, never past the deadline.
            left = report.timeout - report.seconds
            timeout = max(0.1, min(float(conf.GRACEFUL_PUSHGATEWAY_TIMEOUT), left))
            push(self._metrics, gateway, timeout)


_state = ProcessState()


def get_state() -> ProcessState:
    """The state of this process (one server process, one shutdown)."""
    return _state
