"""What each control operation means, whichever transport brought it (local socket or fleet).

status   report, change nothing
drain    readiness fails at once; requests are still served for GRACEFUL_PRE_DRAIN_DELAY
         (unless the request says `"delay": false`); after it, what still arrives is served
         with Connection: close (a 503 in "refuse" mode); the listener stays open
undrain  back to serving (impossible once a shutdown has started)
"""

from __future__ import annotations

import logging
from typing import Any

from ..conf import conf
from .status import StatusFeed

logger = logging.getLogger("graceful_django")

OPS = ("status", "drain", "undrain")


def bad_options(message: dict[str, Any]) -> str | None:
    """Why a request's options are wrong, or None; the same check on every transport."""
    if "delay" in message and not isinstance(message["delay"], bool):
        return f"bad request: delay must be true or false, not {message['delay']!r}"
    return None


def answer(op: str, feed: StatusFeed, *, delay: bool = True) -> dict[str, Any]:
    """Carry out a control request (status, drain or undrain) and say where we are.

    `delay`: a drain honours GRACEFUL_PRE_DRAIN_DELAY (load balancers, or Kubernetes'
    endpoint removal, need that long to stop sending traffic); False refuses at once.
    """
    coordinator = feed.coordinator
    reply: dict[str, Any] = {"ok": True, "op": op}
    if op == "drain":
        began = coordinator.begin_drain(refuse=False)
        if began:
            logger.info("drain requested: readiness fails")
        was_over = coordinator.delay_over
        seconds = float(conf.GRACEFUL_PRE_DRAIN_DELAY) if delay else 0.0
        feed.pre_drain.start(seconds)
        reply["changed"] = began or coordinator.delay_over != was_over
    elif op == "undrain":
        if coordinator.shutting_down:
            return {
                "ok": False,
                "op": op,
                "error": "shutting down; cannot undrain",
                "status": feed.status(),
            }
        feed.pre_drain.cancel()
        reply["changed"] = coordinator.undrain()
        if reply["changed"]:
            logger.info("undrain requested: serving again")
    reply["status"] = feed.status()
    return reply
