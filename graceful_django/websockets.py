"""Closing every open websocket at shutdown (placeholder until the registry lands)."""

from __future__ import annotations

from typing import Any

from .coordinator import Coordinator
from .deadline import Deadline


async def close_all(deadline: Deadline) -> list[str]:
    return []


async def serve_websocket(app: Any, coordinator: Coordinator, scope: dict[str, Any], receive: Any, send: Any) -> None:
    ticket = coordinator.websockets.open(f"websocket {scope.get('path', '')}")
    try:
        await app(scope, receive, send)
    finally:
        coordinator.websockets.close(ticket)
