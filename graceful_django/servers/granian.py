"""Taking over granian's worker shutdown, so that one sequence runs instead of two.

A granian worker (`granian/server/mp.py` `_spawn_asgi_lifespan_worker`) installs SIGINT and
SIGTERM with `loop.add_signal_handler` before lifespan startup; they set the worker's
`WorkerSignal`, on which the Rust server stops and the worker's loop ends. That path runs
through the loop's wakeup fd alongside any `signal.signal` handler, so both shutdowns ran
at once and the loop could end before our close frames were written. The worker function
is below the lifespan startup on the stack, with its `WorkerSignal` in `shutdown_event`.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from .base import ServerAdapter
from .detect import GRANIAN_WORKERS, find_frame

GRANIAN_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def current_granian_signal() -> Any | None:
    """The WorkerSignal of the granian worker running this lifespan startup, if any."""
    frame = find_frame(GRANIAN_WORKERS)
    return frame.f_locals.get("shutdown_event") if frame is not None else None


class GranianAdapter(ServerAdapter):
    name = "granian"

    def __init__(self, worker_signal: Any) -> None:
        self.worker_signal = worker_signal
        # Only our `signal.signal` handlers run from now on (the wakeup fd stops with them).
        loop = asyncio.get_running_loop()
        for signum in GRANIAN_SIGNALS:
            loop.remove_signal_handler(signum)

    def stop_accepting(self) -> None:
        # The Rust server accepts until its WorkerSignal is set, and setting it also ends
        # the worker's loop: until the sequence is over, new requests get our 503. granian's
        # main process has already closed its copy of the listening socket.
        pass

    async def finish(self, exit_code: int) -> None:
        # The Rust server finds no connection left to drain; the worker's loop then runs
        # lifespan shutdown (answered at once: the sequence is over) and the process exits.
        self.worker_signal.set()
