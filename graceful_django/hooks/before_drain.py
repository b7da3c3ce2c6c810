"""The before-drain hooks run once per drain, whichever starts it.

A Kubernetes preStop runs `manage.py drain`, and the SIGTERM comes only after it: if the
before-drain hooks (deregistration from service discovery, telling peers) waited for the
signal, traffic would keep being routed here through the whole pre-drain delay. So a drain
request starts them at once, and the signal's step waits for that same run (within the
shutdown's deadline) rather than running them twice. An undrain forgets a finished run:
the next drain or signal runs them again (graceful_django has no hook to undo them).
"""

from __future__ import annotations

import asyncio

from ..conf import conf
from ..core.coordinator import Coordinator, Phase
from ..core.deadline import Deadline
from ..core.sequence import Progress
from .api import run_all
from .loading import BEFORE_DRAIN


class BeforeDrainHooks:
    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self._run: asyncio.Task[list[str]] | None = None

    def follow(self, coordinator: Coordinator) -> None:
        """Start with each drain request, forget at each undrain."""
        coordinator.on_change(self._changed)

    def _changed(self, coordinator: Coordinator) -> None:
        if coordinator.phase is Phase.RUNNING:
            self.forget()
            return
        if coordinator.phase is Phase.DRAINING and self._run is None:
            try:
                asyncio.get_running_loop()
            except RuntimeError:  # not on the server's loop: the signal's step starts them
                return
            self.start()

    def start(self, deadline: Deadline | None = None) -> asyncio.Task[list[str]]:
        """Run them unless they run or ran already; on the running loop."""
        if self._run is None:
            # Started by a drain: bounded by a whole GRACEFUL_TIMEOUT of its own.
            deadline = deadline or Deadline(float(conf.GRACEFUL_TIMEOUT))
            self._run = asyncio.ensure_future(run_all(deadline, self.progress, phase=BEFORE_DRAIN))
        return self._run

    async def finished(self, deadline: Deadline) -> list[str]:
        """What the run (started now, or by a drain) forced; bounded by `deadline`."""
        run = self.start(deadline)
        try:
            return await asyncio.wait_for(asyncio.shield(run), deadline.remaining())
        except TimeoutError:
            return ["before-drain hooks (started by the drain): still running at the deadline"]

    def forget(self) -> None:
        """Undrained: a finished run is over; one still running is waited for by the next."""
        if self._run is not None and self._run.done():
            self._run = None
