"""OS signal handling: SIGTERM and SIGINT start the graceful shutdown, a second one forces exit.

(Django signals, the extension points, are in `signals.py`.)
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from types import FrameType

from .core.exiting import forced_exit_code

HANDLED_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class SignalCatcher:
    """The first SIGTERM/SIGINT is handed to `on_first`; a second one ends the process.

    "A second one" is a signal that arrives after the first was handled (`handled()`: the
    shutdown has started). Signals sent back to back (`kill` in a loop, a supervisor that
    signals twice) are one request: the kernel merges those that arrive before our handler
    runs, and we merge those that arrive before the shutdown could start.
    """

    def __init__(self, on_first: Callable[[int], None]) -> None:
        self.on_first = on_first
        self.received = 0
        self._handled = False

    def handled(self) -> None:
        """The first signal's shutdown has started: from now on a signal forces the exit."""
        self._handled = True

    def install(self) -> None:
        """In the main thread only (Python's rule); installing again replaces the server's."""
        for signum in HANDLED_SIGNALS:
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.received += 1
        if self.received > 1 and not self._handled:
            return  # the same burst as the first one
        if self.received > 1:
            # No logging here: the interrupted code may hold the logging lock.
            os.write(2, f"graceful_django: second signal {signum}, forcing exit\n".encode())
            os._exit(forced_exit_code(signum))
        self.on_first(signum)
