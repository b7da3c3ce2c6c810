"""The life of one server process: armed under its server, the shutdown task, the exit.

OS signals are caught in `os_signals.py`, the steps are built in `steps.py`, exit codes
are in `core/exiting.py`.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import signal
from collections.abc import Callable
from typing import Any

from django.dispatch import Signal

from . import logs
from .conf import conf
from .core.coordinator import Coordinator, Phase
from .core.deadline import Deadline
from .core.exiting import EXIT_DEADLINE, EXIT_OK, exit_now
from .core.sequence import Progress, Report, Step, run_steps
from .core.watchdog import Watchdog
from .os_signals import SignalCatcher
from .servers.base import ServerAdapter
from .signals import server_started, shutdown_finished, shutdown_started

logger = logging.getLogger("graceful_django")

StepsFactory = Callable[[ServerAdapter], list[Step]]


class Lifecycle:
    def __init__(self, coordinator: Coordinator) -> None:
        self.coordinator = coordinator
        self.build_steps: StepsFactory | None = None
        self.adapter: ServerAdapter | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.signals = SignalCatcher(self._on_first_signal)
        self.pending_signal: int | None = None
        self.shutdown_task: asyncio.Task[Report] | None = None
        self.report: Report | None = None
        self.progress = Progress()
        # How the ASGI wrapper armed this process (once per process, see asgi.py).
        self.armed_for_daphne = False
        self.armed_for_runworker = False
        self.warned_not_main_thread = False

    @property
    def attached(self) -> bool:
        return self.loop is not None

    def install_signal_handlers(self) -> None:
        """May be called before the loop runs: a signal then waits for `attach`."""
        self.signals.install()

    def attach(
        self, adapter: ServerAdapter, loop: asyncio.AbstractEventLoop, build_steps: StepsFactory
    ) -> None:
        """The server runs: (re)install our handlers over the server's and start services."""
        self.build_steps = build_steps
        self.adapter = adapter
        self.loop = loop
        self.install_signal_handlers()
        logs.make_visible()
        logger.info("graceful shutdown armed under %s", adapter.name)
        self._send(server_started, loop=loop, adapter=adapter)
        adapter.watch(lambda: self.request_shutdown(signal.SIGTERM))
        if self.pending_signal is not None:
            self.request_shutdown(self.pending_signal)

    def _send(self, django_signal: Signal, **kwargs: Any) -> None:
        """A receiver that raises is logged; it never stops the server or the shutdown."""
        for receiver, outcome in django_signal.send_robust(sender=type(self), **kwargs):
            if isinstance(outcome, Exception):
                name = getattr(receiver, "__qualname__", repr(receiver))
                logger.error(
                    "a receiver of a graceful_django signal raised: %s", name, exc_info=outcome
                )

    def _on_first_signal(self, signum: int) -> None:
        if self.loop is None:
            self.pending_signal = signum
            return
        # A signal handler must not touch the loop directly; this wakes it safely.
        self.loop.call_soon_threadsafe(self.request_shutdown, signum)

    def request_shutdown(self, signum: int | None = None) -> asyncio.Task[Report]:
        """Start the sequence (once); returns the task that runs it."""
        if self.shutdown_task is None:
            assert self.loop is not None, "attach() first"
            if signum is not None:
                assert self.adapter is not None
                self.adapter.signum = signum
                logger.info("received %s, shutting down gracefully", signal.Signals(signum).name)
            self.shutdown_task = self.loop.create_task(self._shutdown())
            self.signals.handled()
        return self.shutdown_task

    async def _shutdown(self) -> Report:
        assert self.adapter is not None and self.build_steps is not None
        deadline = Deadline(float(conf.GRACEFUL_TIMEOUT))
        Watchdog(deadline, self._deadline_reached).start()
        self._start_serving_cutoff(deadline)
        self.coordinator.begin_shutdown()
        self._send(shutdown_started, coordinator=self.coordinator)
        report = await run_steps(self.build_steps(self.adapter), deadline, self.progress)
        self.report = report
        logger.info(report.summary())
        self._send(shutdown_finished, report=report)
        self.coordinator.enter(Phase.STOPPED)
        code = EXIT_DEADLINE if report.deadline_reached else EXIT_OK
        # Registered last, so it runs first: once the server has returned, skip the
        # interpreter's teardown of every module (about 0.25 s for Django + Twisted, and
        # where daphne dies of SIGSEGV when a sync thread is still around).
        atexit.register(exit_now, code)
        await self.adapter.finish(code)
        return report

    def _start_serving_cutoff(self, deadline: Deadline) -> None:
        """In "serve" mode, new requests get a 503 once their response might not fit."""
        if conf.refuses_when_draining:
            return
        cutoff = float(conf.GRACEFUL_SERVE_CUTOFF)
        assert self.loop is not None
        # A deadline by design, not a poll: nothing else happens at that moment.
        self.loop.call_later(max(0.0, deadline.remaining() - cutoff), self._serving_cut_off, cutoff)

    def _serving_cut_off(self, cutoff: float) -> None:
        if self.coordinator.refusing:
            return
        logger.info(
            "serving cutoff: %gs before GRACEFUL_TIMEOUT, new requests get a 503 from now on",
            cutoff,
        )
        self.coordinator.refuse_new_work()

    def _deadline_reached(self) -> None:
        """Runs in the watchdog thread: name what is left, then end the process."""
        still = {kind: tracker.labels() for kind, tracker in self.coordinator.trackers().items()}
        running = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in still.items() if names)
        logger.error(
            "GRACEFUL_TIMEOUT of %ss reached %s; abandoning %s",
            conf.GRACEFUL_TIMEOUT,
            self.progress.describe(),
            running or "the remaining shutdown steps",
        )
        exit_now(EXIT_DEADLINE)
