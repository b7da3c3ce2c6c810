"""Closing every websocket of this process at shutdown, within the step's share of the deadline.

The ASGI wrapper hands every websocket scope to `serve_websocket`, so each socket is
tracked whether or not its consumer uses `GracefulWebsocketMixin`. At shutdown
`close_all`:

1. refuses every handshake from now on (HTTP 503; an accept still in flight is turned
   into that refusal, never accepted and then dropped);
2. broadcasts `graceful.close` to this process's group on the channel layer (the same
   path in-memory and with Redis; a direct in-process call without a layer): each
   graceful consumer sends its last message, then a close frame with
   GRACEFUL_WS_CLOSE_CODE and GRACEFUL_WS_CLOSE_REASON;
3. closes the sockets of the other apps itself, with the same code and reason;
4. waits, woken by the last one, until every socket's application returned (so every
   consumer's `disconnect` ran), up to GRACEFUL_WS_CLOSE_TIMEOUT; what is left is
   closed and cancelled, and named in the log and in the report;
5. under uvicorn, waits as long for each client's close frame (uvicorn tells the app
   before it came); the clients that never answered are cut and named.
"""

from __future__ import annotations

import asyncio
import logging
import time

from ..conf import conf
from ..core.deadline import Deadline
from .registry import (
    CLOSE_MESSAGE_TYPE,
    LAYER_GRACE,
    OPEN,
    Connection,
    Registry,
    broadcast_close,
    close_directly,
)
from .transport import ClosingHandshakes

logger = logging.getLogger("graceful_django")


async def close_all(registry: Registry, deadline: Deadline) -> list[str]:
    """Close every websocket within the step's share; the names of those forced."""
    registry.closing = True
    connections = registry.snapshot()
    if not connections:
        return []
    share = deadline.share(float(conf.GRACEFUL_WS_CLOSE_TIMEOUT))
    ends = time.monotonic() + share
    handshakes = ClosingHandshakes([(c.label, c.raw_send) for c in connections])
    forced = await _close(registry, connections, ends, share)
    unanswered = await handshakes.wait(max(0.0, ends - time.monotonic()))
    if unanswered:
        logger.warning(
            "cut %d websockets whose clients did not answer the close frame in %.1fs: %s",
            len(unanswered),
            share,
            "; ".join(unanswered),
        )
    return forced + unanswered


async def _close(
    registry: Registry, connections: list[Connection], ends: float, share: float
) -> list[str]:
    code, reason = conf.GRACEFUL_WS_CLOSE_CODE, conf.GRACEFUL_WS_CLOSE_REASON
    graceful = [connection for connection in connections if connection.consumer is not None]
    others = [connection for connection in connections if connection.consumer is None]
    logger.info(
        "closing %d websockets with code %s (%d through their consumers)",
        len(connections),
        code,
        len(graceful),
    )
    message = {"type": CLOSE_MESSAGE_TYPE, "code": code, "reason": reason}
    await broadcast_close(registry, graceful, message)
    await asyncio.gather(*(connection.close(code, reason) for connection in others))
    tracker = connections[0].coordinator.websockets
    if await tracker.wait_empty(min(LAYER_GRACE, max(0.0, ends - time.monotonic()))):
        return []
    late = [c for c in graceful if c.state == OPEN and c in registry.connections]
    if late:
        logger.info("%d consumers not reached through the layer yet; closing directly", len(late))
        close_directly(registry, late, message)
    if await tracker.wait_empty(max(0.0, ends - time.monotonic())):
        return []
    left = registry.snapshot()
    names = [connection.label for connection in left]
    for connection in left:
        await connection.force_close(code, reason)
    logger.warning("force-closed %d websockets after %.1fs: %s", len(left), share, "; ".join(names))
    return names
