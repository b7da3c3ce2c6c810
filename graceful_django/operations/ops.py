"""What each control operation means, whichever transport brought it (local socket or fleet).

status   report, change nothing
drain    readiness fails and new work is refused; the listener stays open
undrain  back to serving (impossible once a shutdown has started)
"""

from __future__ import annotations

import logging
from typing import Any

from .status import StatusFeed

logger = logging.getLogger("graceful_django")

OPS = ("status", "drain", "undrain")


def answer(op: str, feed: StatusFeed) -> dict[str, Any]:
    """Carry out a control request (status, drain or undrain) and say where we are."""
    coordinator = feed.coordinator
    reply: dict[str, Any] = {"ok": True, "op": op}
    if op == "drain":
        reply["changed"] = coordinator.begin_drain(refuse=True)
        if reply["changed"]:
            logger.info("drain requested: readiness fails, new work is refused")
    elif op == "undrain":
        if coordinator.shutting_down:
            return {
                "ok": False,
                "op": op,
                "error": "shutting down; cannot undrain",
                "status": feed.status(),
            }
        reply["changed"] = coordinator.undrain()
        if reply["changed"]:
            logger.info("undrain requested: serving again")
    reply["status"] = feed.status()
    return reply
