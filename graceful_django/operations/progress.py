"""How `manage.py drain` shows each server process's progress.

Each line: the process, its state, what is in flight and its oldest requests, then the
time since the command started and what is left of its `--timeout`:

    pid 4242 (daphne 127.0.0.1:8000): draining, 1 request, 0 websockets, 0 tasks;
        oldest GET /report 3.1s; 3.2s elapsed, 16.8s left                (one line)

On a terminal, one line per process, redrawn in place; when piped, a plain line each time
a process's line changes (at most every PLAIN_INTERVAL seconds per process, except when
its state word changes or its pre-drain delay ends, so that a busy drain does not print
thousands of lines).
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from .wording import describe_oldest, in_flight

PLAIN_INTERVAL = 0.5


class Output(Protocol):
    """A text stream, or the OutputWrapper of a management command."""

    def write(self, msg: str) -> Any: ...

    def flush(self) -> None: ...


def state_word(status: dict[str, Any]) -> str:
    if status.get("exited"):
        return "exited"
    if status.get("gone"):
        return "gone"
    if status["shutting_down"]:
        return "shutting down"
    if status["ready"]:
        return "serving"
    return "drained" if status["drained"] else "draining"


def describe(status: dict[str, Any]) -> str:
    where = " ".join(status.get("listening") or [])
    host = f"{status['host']} " if status.get("fleet") else ""
    head = f"{host}pid {status['pid']} ({status['server']}{' ' + where if where else ''})"
    word = state_word(status)
    refusing_in = status.get("refusing_in") or 0
    if word == "draining" and refusing_in > 0:
        word += f" (still serving for {refusing_in:.1f}s: pre-drain delay)"
    line = f"{head}: {word}, {in_flight(status)}"
    if status.get("oldest") and word not in ("exited", "gone"):
        line += f"; oldest {describe_oldest(status['oldest'])}"
    return line


class ProgressView:
    def __init__(
        self, out: Output, *, tty: bool, enabled: bool = True, timeout: float | None = None
    ) -> None:
        self.out = out
        self.tty = tty
        self.enabled = enabled
        self.started = time.monotonic()
        self.timeout = timeout
        self.lines: dict[str, str] = {}
        self._drawn = 0
        self._printed: dict[str, tuple[str, str, float]] = {}
        # Each process's addresses as last seen: one that closed its listeners (it is
        # draining) keeps the label it had, so its lines read as one process's.
        self._addresses: dict[str, list[str]] = {}

    def _labelled(self, key: str, status: dict[str, Any]) -> dict[str, Any]:
        if status.get("listening"):
            self._addresses[key] = list(status["listening"])
            return status
        return {**status, "listening": self._addresses.get(key, [])}

    def update(self, key: str, status: dict[str, Any]) -> None:
        if not self.enabled:
            return
        # Compared without the timing, which differs every time.
        line = describe(self._labelled(key, status))
        self.lines[key] = f"{line}; {self.timing()}"
        if self.tty:
            self._redraw()
            return
        # The end of the pre-drain delay is news too, though the word stays "draining".
        word, now = f"{state_word(status)} {bool(status.get('refusing_in'))}", time.monotonic()
        last = self._printed.get(key)
        if last is not None and (
            last[0] == line or (last[1] == word and now - last[2] < PLAIN_INTERVAL)
        ):
            return
        self._printed[key] = (line, word, now)
        self.out.write(self.lines[key] + "\n")
        self.out.flush()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def remaining(self) -> float | None:
        return None if self.timeout is None else max(0.0, self.timeout - self.elapsed())

    def timing(self) -> str:
        """`3.2s elapsed, 16.8s left` (of the command's --timeout), added to each line."""
        left = self.remaining()
        return f"{self.elapsed():.1f}s elapsed" + ("" if left is None else f", {left:.1f}s left")

    def _redraw(self) -> None:
        # Back to the first line of the block, then every line cleared and rewritten.
        moves = f"\x1b[{self._drawn}F" if self._drawn else ""
        block = "".join(f"\x1b[2K{line}\n" for line in self.lines.values())
        self.out.write(moves + block)
        self.out.flush()
        self._drawn = len(self.lines)

    def finish(self, statuses: dict[str, dict[str, Any]]) -> None:
        """The last word of each process, whether or not its line was rate-limited."""
        if not self.enabled:
            return
        for key, status in statuses.items():
            line = describe(self._labelled(key, status))
            self.lines[key] = f"{line}; {self.timing()}"
            if not self.tty and self._printed.get(key, ("",))[0] != line:
                self.out.write(self.lines[key] + "\n")
        if self.tty:
            self._redraw()
        self.out.flush()

    def note(self, text: str) -> None:
        if self.enabled:
            self.out.write(text + "\n")
            self.out.flush()
            self._drawn = 0  # the block starts again below the note
