"""How `manage.py drain` shows each server process's progress.

On a terminal, one line per process, redrawn in place; when piped, a plain line each time
a process's line changes (at most every PLAIN_INTERVAL seconds per process, except when
its state word changes, so that a busy drain does not print thousands of lines).
"""

from __future__ import annotations

import time
from typing import Any, Protocol

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
    counts = (
        f"{status['requests']} requests, {status['websockets']} websockets, {status['tasks']} tasks"
    )
    return f"{head}: {state_word(status)}, {counts}"


class ProgressView:
    def __init__(self, out: Output, *, tty: bool, enabled: bool = True) -> None:
        self.out = out
        self.tty = tty
        self.enabled = enabled
        self.lines: dict[str, str] = {}
        self._drawn = 0
        self._printed: dict[str, tuple[str, str, float]] = {}

    def update(self, key: str, status: dict[str, Any]) -> None:
        if not self.enabled:
            return
        line = describe(status)
        if self.tty and self.lines.get(key) == line:
            return
        self.lines[key] = line
        if self.tty:
            self._redraw()
            return
        word, now = state_word(status), time.monotonic()
        last = self._printed.get(key)
        if last is not None and (
            last[0] == line or (last[1] == word and now - last[2] < PLAIN_INTERVAL)
        ):
            return
        self._printed[key] = (line, word, now)
        self.out.write(line + "\n")
        self.out.flush()

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
            self.lines[key] = describe(status)
            if not self.tty and self._printed.get(key, ("",))[0] != self.lines[key]:
                self.out.write(self.lines[key] + "\n")
        if self.tty:
            self._redraw()
        self.out.flush()

    def note(self, text: str) -> None:
        if self.enabled:
            self.out.write(text + "\n")
            self.out.flush()
            self._drawn = 0  # the block starts again below the note
