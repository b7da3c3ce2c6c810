"""gunicorn around uvicorn's workers: its sockets, and its time limit on a shutdown.

Under `gunicorn -k uvicorn.workers.UvicornWorker` each worker runs uvicorn's `Server` (so
uvicorn's adapter applies) on listening sockets that are gunicorn's objects, and gunicorn's
master kills a worker with SIGKILL once `--graceful-timeout` has passed after its SIGTERM.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..conf import conf

logger = logging.getLogger("graceful_django")


def gunicorn_worker_of(server: Any) -> Any | None:
    """The gunicorn UvicornWorker that runs `server`: it hands uvicorn its bound method."""
    notify = getattr(getattr(server, "config", None), "callback_notify", None)
    worker = getattr(notify, "__self__", None)
    return worker if type(worker).__module__.startswith("uvicorn.workers") else None


def release_gunicorn_sockets(server: Any) -> None:
    """Under gunicorn and uvloop, let uvloop alone close the worker's listening sockets.

    uvloop closes the file descriptor itself, then calls `close()` on the socket object it
    was given: gunicorn's wrapper, whose socket then fails with EBADF and logs
    "Error while closing socket [Errno 9] Bad file descriptor" (without graceful_django
    too). A detached socket object closes without touching the descriptor.
    """
    worker = gunicorn_worker_of(server)
    if worker is None or not type(asyncio.get_running_loop()).__module__.startswith("uvloop"):
        return
    for listener in worker.sockets:
        inner = getattr(listener, "sock", None)
        if inner is not None:
            inner.detach()


def server_time_limits(server: Any) -> dict[str, float]:
    """The limits that uvicorn (and gunicorn around it) put on a shutdown, in seconds."""
    limits: dict[str, float] = {}
    uvicorn_limit = getattr(getattr(server, "config", None), "timeout_graceful_shutdown", None)
    if uvicorn_limit is not None:
        limits["uvicorn --timeout-graceful-shutdown"] = float(uvicorn_limit)
    # gunicorn's master kills the worker with SIGKILL once its graceful timeout has passed.
    gunicorn_cfg = getattr(gunicorn_worker_of(server), "cfg", None)
    gunicorn_limit = getattr(gunicorn_cfg, "graceful_timeout", None)
    if gunicorn_limit is not None:
        limits["gunicorn --graceful-timeout"] = float(gunicorn_limit)
    return limits


def warn_if_cut_short(server: Any) -> None:
    needed = float(conf.GRACEFUL_TIMEOUT) + float(conf.GRACEFUL_PRE_DRAIN_DELAY)
    for name, limit in server_time_limits(server).items():
        if limit < needed:
            logger.warning(
                "%s is %ss, shorter than GRACEFUL_TIMEOUT + GRACEFUL_PRE_DRAIN_DELAY (%ss): "
                "the server cuts the shutdown short; raise it to at least %ss",
                name,
                f"{limit:g}",
                f"{needed:g}",
                f"{needed:g}",
            )
