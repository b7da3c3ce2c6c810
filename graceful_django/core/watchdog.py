"""Keeps the one deadline whatever else hangs: a thread that ends the process at the deadline.

A sync hook or view that never returns cannot be cancelled, so the deadline is enforced
outside the event loop, by a thread that waits on an event with a timeout.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from .deadline import Deadline

logger = logging.getLogger("graceful_django")


class Watchdog:
    def __init__(self, deadline: Deadline, on_expire: Callable[[], None]) -> None:
        self.deadline = deadline
        self.on_expire = on_expire
        self._disarmed = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="graceful-watchdog", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def disarm(self) -> None:
        self._disarmed.set()

    def _watch(self) -> None:
        if not self._disarmed.wait(self.deadline.remaining()):
            self.on_expire()
