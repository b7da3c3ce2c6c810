"""Django's own `manage.py runserver` (WSGI, daphne not in INSTALLED_APPS).

Its request threads are daemon threads: on Ctrl+C, `inner_run` catches KeyboardInterrupt
and calls `sys.exit(0)`, and the interpreter ends them wherever they are. They still run
while the `atexit` handlers do, so one that waits for the in-flight requests lets each
finish and send its response (the middleware closes a request's ticket once the WSGI
server has written the body). That holds under the autoreloader too, in its child process.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Callable

from ..conf import conf
from ..core.coordinator import Coordinator
from .detect import loaded_by

logger = logging.getLogger("graceful_django")

DJANGO_RUNSERVER_LOADERS = frozenset({("django.core.management.commands.runserver", "inner_run")})

_armed = threading.Event()


def arm_under_django_runserver(coordinator_of: Callable[[], Coordinator]) -> None:
    """Called while the WSGI handler is built; arms once, and only under Django's runserver."""
    if _armed.is_set() or not loaded_by(DJANGO_RUNSERVER_LOADERS):
        return
    _armed.set()
    atexit.register(_wait_for_requests, coordinator_of)
    logger.info(
        "graceful shutdown armed under Django's runserver: Ctrl+C lets in-flight requests finish"
        " (SIGTERM does not: the runserver has no handler for it)"
    )


def _wait_for_requests(coordinator_of: Callable[[], Coordinator]) -> None:
    coordinator = coordinator_of()
    coordinator.refuse_new_work()
    requests = coordinator.requests
    if not len(requests):
        return
    logger.info("waiting for %s in-flight request(s): %s", len(requests), requests.labels())
    if not requests.wait_empty_blocking(float(conf.GRACEFUL_TIMEOUT)):
        logger.error(
            "GRACEFUL_TIMEOUT of %ss reached; abandoning %s",
            conf.GRACEFUL_TIMEOUT,
            ", ".join(requests.labels()),
        )
