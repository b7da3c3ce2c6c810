"""graceful_django's log lines: each names its pid, and stderr shows them when nothing else would.

Without a LOGGING setting, Django configures only its own "django" logger, and Python
shows other loggers' WARNING and above only (its last-resort handler). Under uvicorn,
which configures its own loggers only, the INFO lines of a shutdown, the report
included, would then reach nobody. So when the server arms and no handler lies on the
graceful_django logger's way, one stderr handler is added to it. Where the project
configured any (LOGGING, or daphne's own `basicConfig`), nothing is added, so no line is
printed twice.

Several processes of one server (workers) write to one log, so every line starts with
`[pid N]`, whatever the project's format.
"""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class PidPrefix(logging.Filter):
    """Prefixes the message with the pid of the process that logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = f"[pid {record.process}] {record.msg}"
        return True


def make_visible(logger: logging.Logger | None = None) -> None:
    """In a server process, once it arms (never in `ready()`: commands run that too)."""
    logger = logger or logging.getLogger("graceful_django")
    if not any(isinstance(each, PidPrefix) for each in logger.filters):
        logger.addFilter(PidPrefix())
    if logger.hasHandlers():
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    logger.addHandler(handler)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
