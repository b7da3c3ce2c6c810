"""Closing every websocket of this process at shutdown, within the step's share of the deadline.

The ASGI wrapper hands every websocket scope to `serve_websocket`, so each socket is
tracked whether or not its consumer uses `GracefulWebsocketMixin`. At shutdown
`close_all`:

1. refuses every handshake from now on (HTTP 503; an accept still in flight is turned
   into that refusal, never accepted and then dropped);
2. tells each graceful consumer to close after the messages already queued for it
   (`delivery`: at once when it is idle with nothing queued, else on its own channel):
   each sends its last message, then a close frame with GRACEFUL_WS_CLOSE_CODE and
   GRACEFUL_WS_CLOSE_REASON;
3. closes the sockets of the other apps itself, with the same code and reason;
4. once those close frames are written, lets the graceful consumers' `disconnect`s run
   (they wait at `registry.disconnects` meanwhile: see gate.py), and under daphne hands
   each application its `websocket.disconnect` (uvicorn does so by itself);
5. waits, woken by the last one, until every socket's application returned (so every
   consumer's `disconnect` ran), up to GRACEFUL_WS_CLOSE_TIMEOUT; consumers still open
   halfway (a handler still running) are closed in-process; what is left at the end is
   closed and cancelled, and named in the log and in the report;
6. waits as long for each client's close frame and the end of its TCP connection (RFC
   6455 7.1.1); the clients that never answered are cut and named.

The clients' answers are not read until steps 2-4 are done (reading them would take the
loop from the frames still to send), at most DISCONNECTS_WAIT after. Every step is
O(sockets), in batches (`delivery.BATCH`) with a yield between them, so the loop keeps
serving meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Iterator
from typing import Any

from ..conf import conf
from ..core.deadline import Deadline
from ..core.tracker import Tracker
from .delivery import batches, deliver_close, each_in_batches
from .registry import CLOSE_MESSAGE_TYPE, LAYER_GRACE, OPEN, Connection, Registry, close_directly
from .transport import ClosingHandshakes, pause_reading, tell_disconnected

logger = logging.getLogger("graceful_django")

LATE_FRACTION = 0.5
# How long the clients' answers may wait for the close frames of the other sockets (the
# step's share bounds each handshake, not autobahn's 1 s: see transport.send_close_frame).
FRAMES_WAIT = 0.5
# How long the clients' answers may wait for the `disconnect`s that the close frames let go.
DISCONNECTS_WAIT = 0.5


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No garbage collection while the sockets close.

    A full collection walks every object the open sockets hold (10,000 consumers are
    millions of objects), and the close creates enough objects to trigger one every few
    milliseconds: measured, a tenth of the step's time. What is open now is frozen out of
    the collector's view and collection waits for the step's end.
    """
    was_enabled = gc.isenabled()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()
        if was_enabled:
            gc.enable()


async def close_all(registry: Registry, deadline: Deadline) -> list[str]:
    """Close every websocket within the step's share; the names of those forced."""
    registry.closing = True
    if not registry.connections:
        return []
    with _collector_paused():
        return await _close_all(registry, deadline)


async def _close_all(registry: Registry, deadline: Deadline) -> list[str]:
    connections = registry.snapshot()
    share = deadline.share(float(conf.GRACEFUL_WS_CLOSE_TIMEOUT))
    ends = time.monotonic() + share
    handshakes = ClosingHandshakes([(c, c.raw_send) for c in connections])
    ended = _note_when_ended(connections[0].coordinator.websockets, handshakes, share)
    try:
        forced = await _close(registry, connections, ends, share)
    finally:
        ended.cancel()
    unanswered = await handshakes.wait(max(0.0, ends - time.monotonic()))
    if unanswered:
        logger.warning(
            "cut %d websockets whose clients did not answer the close frame in %.1fs: %s",
            len(unanswered),
            share,
            "; ".join(unanswered),
        )
    return forced + unanswered


def _note_when_ended(
    tracker: Tracker, handshakes: ClosingHandshakes, share: float
) -> asyncio.Task[bool]:
    """Log when the last application returned (every `disconnect` ran), as it happens: the
    step itself goes on waiting for the closing handshakes."""
    started = time.monotonic()

    def ended(task: asyncio.Task[bool]) -> None:
        if not task.cancelled() and task.result():
            logger.info(
                "every websocket application ended (its disconnect ran) after %.0fms; "
                "%d closing handshakes left",
                (time.monotonic() - started) * 1000,
                handshakes.open(),
            )

    task = asyncio.ensure_future(tracker.wait_empty(share))
    task.add_done_callback(ended)
    return task


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
    # The close frames first: the clients' answers wait in the kernel, and the consumers'
    # `disconnect`s at the gate, until all are sent.
    resumes = [resume for c in connections if (resume := pause_reading(c.raw_send))]
    registry.disconnects.hold()
    try:
        await deliver_close(
            [connection.consumer for connection in graceful],
            message,
            min(LAYER_GRACE, max(0.0, ends - time.monotonic())),  # for a layer's round trip
            lambda consumers: close_directly(registry, consumers, message),
        )
        for batch in batches(others):
            await asyncio.gather(*(connection.close(code, reason) for connection in batch))
        if registry.direct_tasks:
            await asyncio.wait(set(registry.direct_tasks), timeout=FRAMES_WAIT)
    finally:
        await registry.disconnects.release()
        daphne = [c.protocol for c in connections if c.protocol is not None]
        await each_in_batches(daphne, lambda protocol: tell_disconnected(protocol, code))
    tracker = connections[0].coordinator.websockets
    # The `disconnect`s before the clients' answers, whose reading and TCP teardown are
    # most of daphne's work at this step; a handler that takes longer does not hold them.
    await tracker.wait_empty(max(0.0, min(DISCONNECTS_WAIT, ends - time.monotonic())))
    await each_in_batches(resumes, lambda resume: resume())
    return await _wait_closed(registry, graceful, message, tracker, share, ends)


async def _wait_closed(
    registry: Registry,
    graceful: list[Connection],
    message: dict[str, Any],
    tracker: Tracker,
    share: float,
    ends: float,
) -> list[str]:
    code, reason = message["code"], message["reason"]
    # A consumer still in a handler reads its close only once the handler returns; past
    # half the share it is closed in-process (what is still queued for it is then lost),
    # leaving the other half for its `disconnect`.
    if await tracker.wait_empty(max(0.0, ends - share * LATE_FRACTION - time.monotonic())):
        return []
    late = [c for c in graceful if c.state == OPEN and c.receive in registry.connections]
    if late:
        logger.info(
            "%d consumers still busy after %.1fs; closing them directly: %s",
            len(late),
            share * LATE_FRACTION,
            "; ".join(connection.label for connection in late[:10]),
        )
        close_directly(registry, [connection.consumer for connection in late], message)
    if await tracker.wait_empty(max(0.0, ends - time.monotonic())):
        return []
    left = registry.snapshot()
    names = [connection.label for connection in left]
    for connection in left:
        await connection.force_close(code, reason)
    logger.warning("force-closed %d websockets after %.1fs: %s", len(left), share, "; ".join(names))
    return names
