"""Exit codes, and ending the process once nothing is left to do.

0        the sequence finished before GRACEFUL_TIMEOUT (the report names anything forced)
1        GRACEFUL_TIMEOUT was reached; the work still running was abandoned
130      a second SIGINT (Ctrl+C twice) forced the exit at once
131      SIGQUIT forced the exit at once (a repeated SIGTERM never forces)
"""

from __future__ import annotations

import logging
import os
import sys

EXIT_OK = 0
EXIT_DEADLINE = 1


def forced_exit_code(signum: int) -> int:
    return 128 + signum


def exit_now(code: int) -> None:
    """End the process without the interpreter's teardown, after flushing what it printed."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
