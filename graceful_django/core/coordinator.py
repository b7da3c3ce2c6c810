"""The process-wide shutdown state: which phase we are in and what is still in flight.

Knows nothing of Django or of any server. Phases only move forward during a shutdown:

    running -> draining -> stopping -> stopped

`draining` starts at the signal (or `manage.py drain`): readiness fails at once, and every
response says `Connection: close`. `delay_over` is set once the pre-drain delay is over:
load balancers have stopped sending, the server stops taking new connections where it can,
and what still reaches the process is served (or, with `refuse` given, gets a 503).
`refusing` is set when new requests get a 503: at the serving cutoff before the deadline,
at once in "refuse" mode. `stopping` starts when the drain is over (the process is no
longer live). A drain without a shutdown can be undone (`undrain`).
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable

from .tracker import Tracker


class Phase(enum.StrEnum):
    RUNNING = "running"
    DRAINING = "draining"
    STOPPING = "stopping"
    STOPPED = "stopped"


Listener = Callable[["Coordinator"], None]


class Coordinator:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.phase = Phase.RUNNING
        # True once the pre-drain delay is over (or there was none).
        self.delay_over = False
        # True once new work gets a 503 (implies delay_over).
        self.refusing = False
        self.shutting_down = False
        self.requests = Tracker("request")
        self.websockets = Tracker("websocket")
        self.tasks = Tracker("task")
        # When the last response that may have left without `Connection: close` ended
        # (time.monotonic()): its client may send its next request on that connection. For
        # servers whose connections do not tell how long they have been idle (hypercorn,
        # granian).
        self.kept_alive_at: float | None = None
        self._listeners: list[Listener] = []

    def note_kept_alive(self) -> None:
        """A response that may have left without `Connection: close` has just ended."""
        self.kept_alive_at = time.monotonic()

    def kept_alive_age(self) -> float | None:
        """Seconds since the last response that may have left without `Connection: close`
        ended (None: none did): no kept-alive connection has been idle for less."""
        if self.kept_alive_at is None:
            return None
        return time.monotonic() - self.kept_alive_at

    # What the health endpoints and the middleware ask.
    @property
    def ready(self) -> bool:
        return self.phase is Phase.RUNNING

    @property
    def live(self) -> bool:
        return self.phase in (Phase.RUNNING, Phase.DRAINING)

    def on_change(self, listener: Listener) -> None:
        """Call `listener(coordinator)` after every change of phase, `delay_over` or `refusing`."""
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in list(self._listeners):
            listener(self)

    def begin_drain(self, *, refuse: bool) -> bool:
        """Fail readiness; with `refuse`, refuse new work now (no pre-drain delay). False if
        nothing changed."""
        with self._lock:
            if self.phase is not Phase.RUNNING:
                if refuse and self.phase is Phase.DRAINING and not self.refusing:
                    self.refusing = self.delay_over = True
                else:
                    return False
            else:
                self.phase = Phase.DRAINING
                self.refusing = self.delay_over = refuse
        self._changed()
        return True

    def end_delay(self, *, refuse: bool) -> None:
        """The pre-drain delay is over; with `refuse`, new work gets a 503 from now on."""
        with self._lock:
            if self.delay_over and (self.refusing or not refuse):
                return
            self.delay_over = True
            self.refusing = self.refusing or refuse
        self._changed()

    def refuse_new_work(self) -> None:
        """New work gets a 503 from now on (serving it could no longer fit the deadline)."""
        self.end_delay(refuse=True)

    def undrain(self) -> bool:
        """Back to serving; impossible once a shutdown has started."""
        with self._lock:
            if self.shutting_down or self.phase is not Phase.DRAINING:
                return False
            self.phase = Phase.RUNNING
            self.refusing = self.delay_over = False
        self._changed()
        return True

    def begin_shutdown(self) -> bool:
        """Mark the shutdown as started; False for the second caller (a second signal)."""
        with self._lock:
            if self.shutting_down:
                return False
            self.shutting_down = True
            if self.phase is Phase.RUNNING:
                self.phase = Phase.DRAINING
        self._changed()
        return True

    def enter(self, phase: Phase) -> None:
        with self._lock:
            self.phase = phase
            if phase is not Phase.RUNNING:
                self.refusing = self.delay_over = True
        self._changed()

    def trackers(self) -> dict[str, Tracker]:
        """What is in flight, by the plural name the status, the logs and the metrics use."""
        return {"requests": self.requests, "websockets": self.websockets, "tasks": self.tasks}

    def counts(self) -> dict[str, int]:
        return {name: len(tracker) for name, tracker in self.trackers().items()}
