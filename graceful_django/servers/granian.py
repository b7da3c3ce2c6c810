"""Taking over granian's worker shutdown, so that one sequence runs instead of two.

A granian worker (`granian/server/mp.py` `_spawn_asgi_lifespan_worker`) installs SIGINT and
SIGTERM with `loop.add_signal_handler` before lifespan startup; they set the worker's
`WorkerSignal`, on which the Rust server stops and the worker's loop ends. That path runs
through the loop's wakeup fd alongside any `signal.signal` handler, so both shutdowns ran
at once and the loop could end before our close frames were written. The worker function
is below the lifespan startup on the stack, with its `WorkerSignal` in `shutdown_event`.

The Rust server stops only when that signal is set, and then closes its idle connections at
once: so it is set at the last step, after the idle grace, and the sequence waits for the
release granian calls back once the last connection is done. Set at the end instead, the
Rust server kept accepting on the shared socket while the worker had stopped, and a reload
under load gave a few 503s.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from ..core.coordinator import Coordinator
from ..core.deadline import Deadline
from ..core.loops import call_soon_on
from .base import CLOSE_RESERVE, ServerAdapter, let_idle_clients_settle
from .detect import GRANIAN_WORKERS, find_frame

GRANIAN_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def current_granian_worker() -> dict[str, Any] | None:
    """The local variables of the granian worker function running this lifespan startup
    (its `WorkerSignal` in `shutdown_event`), if any."""
    frame = find_frame(GRANIAN_WORKERS)
    if frame is None or "shutdown_event" not in frame.f_locals:
        return None
    return frame.f_locals


class GranianAdapter(ServerAdapter):
    name = "granian"

    def __init__(self, worker: dict[str, Any], coordinator: Coordinator) -> None:
        self.worker_signal = worker["shutdown_event"]
        self.coordinator = coordinator
        # Only our `signal.signal` handlers run from now on (the wakeup fd stops with them).
        loop = asyncio.get_running_loop()
        for signum in GRANIAN_SIGNALS:
            loop.remove_signal_handler(signum)
        # The Rust server calls back from its own thread once its last connection is done.
        # granian 2.8 keeps only the last callback given: the worker's own (which ends the
        # worker's loop, then lifespan shutdown waits for our sequence) is called from ours.
        self.released = asyncio.Event()
        granian_callback = worker.get("shutdown_glue")

        def on_release() -> None:
            call_soon_on(loop, self.released.set)
            if callable(granian_callback):
                granian_callback()

        self.worker_signal.add_cb(on_release)

    def stop_accepting(self) -> None:
        # The Rust server accepts until its WorkerSignal is set, and that also closes its
        # idle keep-alive connections at once, under a client that may be sending on one.
        # So it is set in `close_connections`, after the idle grace: until then what
        # reaches this worker is served, with Connection: close. granian's main process
        # has already closed its copy of the listening socket.
        pass

    async def close_connections(self, deadline: Deadline) -> list[str]:
        await let_idle_clients_settle(self.coordinator.kept_alive_age(), deadline)
        # The Rust server stops accepting (the listening socket's queue is left to the
        # other workers), closes its idle connections and releases the worker once none
        # is left: a request on one of them until then is served before the databases
        # close, not met with a 503 after the sequence.
        self.worker_signal.set()
        try:
            async with asyncio.timeout(deadline.share(None, reserve=CLOSE_RESERVE)):
                await self.released.wait()
        except TimeoutError:
            return ["granian connections still open"]
        return []

    async def finish(self, exit_code: int) -> None:
        # Set already unless `close_connections` did not run. Once released, the worker's
        # loop runs lifespan shutdown (answered at once: the sequence is over) and exits.
        self.worker_signal.set()
