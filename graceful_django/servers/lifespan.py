"""Which server sent the ASGI lifespan startup: the adapter for it.

uvicorn is told by the signal handler it installed, hypercorn by the task running its
`worker_serve`, granian by its worker function below us on the stack; any other server
gets the generic adapter.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from ..core.coordinator import Coordinator
from .base import ServerAdapter
from .granian import GranianAdapter, current_granian_worker
from .gunicorn import warn_if_cut_short
from .hypercorn import HypercornAdapter, UnknownTrigger, current_hypercorn_task
from .uvicorn import UvicornAdapter, current_uvicorn_server

logger = logging.getLogger("graceful_django")


def lifespan_adapter(
    generic: Callable[[], ServerAdapter], coordinator: Coordinator
) -> ServerAdapter:
    server = current_uvicorn_server()
    if server is not None:
        warn_if_cut_short(server)
        return UvicornAdapter(server)
    hypercorn_task = current_hypercorn_task()
    if hypercorn_task is not None:
        return _hypercorn_adapter(hypercorn_task, generic, coordinator)
    granian_worker = current_granian_worker()
    if granian_worker is not None:
        return GranianAdapter(granian_worker, coordinator)
    return generic()


def _hypercorn_adapter(
    task: asyncio.Task[Any], generic: Callable[[], ServerAdapter], coordinator: Coordinator
) -> ServerAdapter:
    try:
        return HypercornAdapter(task, coordinator)
    except UnknownTrigger as error:
        # A hypercorn release we do not know: still armed, but both shutdowns may run.
        logger.warning("%s; running under the generic adapter", error)
        return generic()
