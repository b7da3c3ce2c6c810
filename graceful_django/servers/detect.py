"""Telling which program loads the application, from the frames that import it.

Importing a module says nothing about who serves: daphne's AppConfig imports
`daphne.server` and the Twisted reactor in every process that lists daphne in
INSTALLED_APPS (`manage.py runworker`, `shell`, Celery). The function that is loading the
application does: daphne's CLI and daphne's runserver import it just before they build
their `Server`, and Channels' runworker just before its `Worker`.
"""

from __future__ import annotations

import sys
from types import FrameType

# (module, function) of the code that loads the application, per program.
DAPHNE_LOADERS = frozenset(
    {("daphne.cli", "run"), ("daphne.management.commands.runserver", "inner_run")}
)
RUNWORKER_LOADERS = frozenset({("channels.management.commands.runworker", "handle")})
# granian's worker functions, which run the lifespan startup on the worker's loop.
GRANIAN_WORKERS = frozenset(
    {
        (f"granian.server.{module}", "_spawn_asgi_lifespan_worker")
        for module in ("mp", "mt", "embed")
    }
)


def find_frame(loaders: frozenset[tuple[str, str]]) -> FrameType | None:
    """The innermost frame of the current thread's stack that runs one of `loaders`."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if (frame.f_globals.get("__name__"), frame.f_code.co_name) in loaders:
            return frame
        frame = frame.f_back
    return None


def loaded_by(loaders: frozenset[tuple[str, str]]) -> bool:
    """Whether one of `loaders` is on the current thread's stack."""
    return find_frame(loaders) is not None
