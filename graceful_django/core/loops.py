"""Handing a callback to an event loop from another thread."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


def call_soon_on(loop: asyncio.AbstractEventLoop, callback: Callable[[], object]) -> None:
    """From any thread (sync views' threads, a server's own threads)."""
    try:
        loop.call_soon_threadsafe(callback)
    except RuntimeError:
        pass  # the loop is closed: the process is exiting
