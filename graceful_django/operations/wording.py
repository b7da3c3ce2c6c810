"""How the drain's state is put into words, the same in `manage.py drain` and the server's log."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..core.tracker import Ticket

# How many of the oldest in-flight requests a status names.
OLDEST = 3


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def in_flight(counts: Mapping[str, Any]) -> str:
    """`2 requests, 1 websocket, 0 tasks`."""
    return ", ".join(
        plural(int(counts.get(name) or 0), name[:-1])
        for name in ("requests", "websockets", "tasks")
    )


def oldest_requests(tickets: Iterable[Ticket], limit: int = OLDEST) -> list[dict[str, Any]]:
    """The longest-running requests, as {method, path, age}; tickets come oldest first."""
    oldest: list[dict[str, Any]] = []
    for ticket in tickets:
        if len(oldest) == limit:
            break
        # Request tickets are labelled "METHOD /path" (middleware.request_label).
        method, _, path = str(ticket.label).partition(" ")
        oldest.append({"method": method, "path": path, "age": round(ticket.age(), 1)})
    return oldest


def describe_oldest(oldest: Iterable[Mapping[str, Any]]) -> str:
    """`GET /slow 3.1s, POST /orders/ 0.4s`."""
    return ", ".join(f"{r['method']} {r['path']} {float(r['age']):.1f}s" for r in oldest)
