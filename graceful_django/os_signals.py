"""OS signal handling, as supervisors and people send signals.

- SIGTERM or SIGINT starts the graceful shutdown.
- A repeated SIGTERM is harmless: supervisors send duplicates routinely (gunicorn's and
  uvicorn's masters forward SIGTERM to workers that systemd's control group, dumb-init or
  `kill -- -PGID` already signalled). It is noted once on stderr.
- A SIGINT once the shutdown runs forces the exit (Ctrl+C twice), as under uvicorn.
- SIGQUIT forces the exit at any time (gunicorn's "quick shutdown" sends it to workers).

(Django signals, the extension points, are in `signals.py`.)
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from types import FrameType

from .core.exiting import forced_exit_code

# The signals that start the graceful shutdown.
HANDLED_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# The signals that end the process at once, once the shutdown has started (SIGQUIT: always).
FORCING_SIGNALS = (signal.SIGINT, signal.SIGQUIT)


class SignalCatcher:
    """The first SIGTERM/SIGINT is handed to `on_first`; later ones follow the rules above.

    "Once the shutdown runs" means after `handled()`. Signals sent back to back (`kill` in
    a loop, a supervisor that signals twice) before the shutdown could start are one
    request: the kernel merges those that arrive before our handler runs, and we merge
    those that arrive before the shutdown started, SIGINT included.
    """

    def __init__(self, on_first: Callable[[int], None]) -> None:
        self.on_first = on_first
        self.received = 0
        self._handled = False
        self._noted_repeat = False

    def handled(self) -> None:
        """The first signal's shutdown has started: from now on SIGINT forces the exit."""
        self._handled = True

    def install(self) -> None:
        """In the main thread only (Python's rule); installing again replaces the server's."""
        for signum in (*HANDLED_SIGNALS, signal.SIGQUIT):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # No logging in here: the interrupted code may hold the logging lock.
        if signum == signal.SIGQUIT:
            _force(signum, "")
        self.received += 1
        if self.received == 1:
            self.on_first(signum)
        elif not self._handled:
            return  # the same burst as the first one
        elif signum in FORCING_SIGNALS:
            _force(signum, "second signal ")
        elif not self._noted_repeat:
            self._noted_repeat = True
            name = signal.Signals(signum).name
            os.write(2, f"graceful_django: {name} again, the shutdown goes on\n".encode())


def _force(signum: int, which: str) -> None:
    name = signal.Signals(signum).name
    os.write(2, f"graceful_django: {which}{name}, forcing exit\n".encode())
    os._exit(forced_exit_code(signum))
