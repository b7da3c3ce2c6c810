"""What `manage.py drain` ends with, whichever transport it used (local sockets or the fleet).

Exit codes:
    0  every server drained (or: undrained, stopped, reported)
    1  the timeout passed first, or a server could not be undrained or did not exit
    2  no running server of this project was found
    3  bad arguments (nothing was sent to any server)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.exiting import EXIT_OK

__all__ = ["EXIT_NO_SERVER", "EXIT_OK", "EXIT_TIMEOUT", "EXIT_USAGE", "DrainError", "Outcome"]

EXIT_TIMEOUT = 1  # or: a process could not be undrained / did not exit
EXIT_NO_SERVER = 2
EXIT_USAGE = 3


class DrainError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Outcome:
    action: str
    code: int
    message: str
    statuses: dict[str, dict[str, Any]]
    elapsed: float
    timeout: float | None = None

    def as_dict(self) -> dict[str, Any]:
        remaining = None if self.timeout is None else max(0.0, self.timeout - self.elapsed)
        return {
            "action": self.action,
            "exit_code": self.code,
            "message": self.message,
            "elapsed": round(self.elapsed, 3),
            "timeout": self.timeout,
            "remaining": None if remaining is None else round(remaining, 3),
            "servers": list(self.statuses.values()),
        }
