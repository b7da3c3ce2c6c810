"""Telling every graceful consumer of this process to close, through the channel layer.

One group per process, so the same message goes the same way whether the layer keeps
its groups in memory or in Redis, and reaches each consumer after the messages already
queued for it. Members older than the layer's `group_expiry` (the layer forgets them)
also get it on their own channel. Consumers without a layer, those of a layer that
fails, and those the layer is too slow to reach (see `websockets.close_all`) get it
dispatched to them directly, in this process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .websockets import Connection

logger = logging.getLogger("graceful_django")

_direct_tasks: set[asyncio.Task[Any]] = set()


async def broadcast_close(
    group: str, connections: list[Connection], message: dict[str, Any]
) -> None:
    by_layer: dict[int, tuple[Any, list[Any]]] = {}
    direct: list[Any] = []
    for connection in connections:
        consumer = connection.consumer
        layer = getattr(consumer, "channel_layer", None)
        if layer is None or not getattr(consumer, "channel_name", None):
            direct.append(consumer)
        else:
            by_layer.setdefault(id(layer), (layer, []))[1].append(connection)
    for layer, members in by_layer.values():
        try:
            await layer.group_send(group, message)
            expiry = getattr(layer, "group_expiry", None)
            if expiry is not None:
                now = time.monotonic()
                stale = [c.consumer for c in members if now - c.joined >= expiry * 0.9]
                await asyncio.gather(*(layer.send(c.channel_name, message) for c in stale))
        except Exception:
            logger.warning(
                "channel layer broadcast failed; closing its consumers directly", exc_info=True
            )
            direct.extend(connection.consumer for connection in members)
    for consumer in direct:
        _dispatch(consumer, message)


def close_directly(connections: list[Connection], message: dict[str, Any]) -> None:
    """The in-process path, for consumers the layer has not reached (the handler is idempotent)."""
    for connection in connections:
        _dispatch(connection.consumer, message)


def _dispatch(consumer: Any, message: dict[str, Any]) -> None:
    """The in-process path: run the consumer's handler as if the layer had delivered it."""
    task = asyncio.get_running_loop().create_task(consumer.dispatch(message))
    _direct_tasks.add(task)
    task.add_done_callback(_done)


def _done(task: asyncio.Task[Any]) -> None:
    _direct_tasks.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.warning("closing a consumer failed", exc_info=task.exception())
