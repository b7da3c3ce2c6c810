"""Getting the close message to each graceful consumer of this process, in order, in O(n).

A Channels consumer handles its messages one at a time: those of its client and those of
its own channel on the layer. The close must come after the messages already queued for
the consumer (a chat message sent just before the shutdown is delivered, then the close).
Every consumer lives in this process, so no group is needed (a group send costs a deep
copy per member on the in-memory layer, and each member's next receive there scans every
channel and group: O(n) per socket, O(n^2) in all):

- an idle consumer (waiting on its channel, in no handler) with nothing queued for it is
  closed at once, in-process: nothing can come before its close. "Nothing queued" is read
  from the layer's own per-channel queue in this process (`InMemoryChannelLayer.channels`,
  channels_redis's `receive_buffer`; internals, checked against channels 4.3 and
  channels_redis 4.3); for any other layer it is unknown, so the close is queued;
- the others get it on their own channel, behind what is queued: in-memory,
  `layer.send(channel)`, an O(1) put; any other layer, `layer.send(channel)` too;
- channels_redis: every channel of a process shares one Redis key, popped oldest first and
  routed to a local buffer per channel. First one marker sent to a channel of this process
  and received back: everything Redis held for the process has then reached those
  buffers. The close is then put into every consumer's buffer (behind what is there; the
  idle ones too, so that their pending receive returns rather than being cancelled, which
  channels_redis does not always survive promptly), and a second marker wakes the one
  receiver that waits in Redis under the layer's receive lock. Two round trips per
  process instead of several Redis commands per socket;
- no layer, or a layer that fails: closed in-process at once.

Direct closes go in batches with a yield between them, so the consumers of a batch send
their close frames, and the server flushes them, before the next batch starts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from channels.layers import InMemoryChannelLayer

logger = logging.getLogger("graceful_django")

BATCH = 500
_MARKER_TYPE = "graceful.marker"


def batches(items: Sequence[Any], size: int = BATCH) -> Iterator[Sequence[Any]]:
    """`items` in slices; callers yield to the loop after each, so that thousands of sockets
    do not keep it (their frames, the other clients) waiting."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def each_in_batches(items: Sequence[Any], action: Callable[[Any], object]) -> None:
    """`action(item)` for every item, yielding to the loop after each batch."""
    for batch in batches(items):
        for item in batch:
            action(item)
        await asyncio.sleep(0)


async def deliver_close(
    consumers: list[Any], message: dict[str, Any], timeout: float, direct: Any
) -> None:
    """Close each consumer after what is queued for it; `direct(batch)` closes in-process."""
    by_layer: dict[int, tuple[Any, list[Any]]] = {}
    now: list[Any] = []
    for consumer in consumers:
        layer = getattr(consumer, "channel_layer", None)
        if layer is None or not getattr(consumer, "channel_name", None):
            now.append(consumer)
        else:
            by_layer.setdefault(id(layer), (layer, []))[1].append(consumer)
    queued_on: list[tuple[Any, list[Any]]] = []
    for layer, members in by_layer.values():
        redis = _is_channels_redis(layer)
        if redis:
            await _flush_redis(layer, len(members), timeout)
        # An idle consumer with nothing queued has nothing to come before its close: close
        # it at once, sparing the layer's queue, its wake-up and Channels' dispatch loop.
        queued = []
        for consumer in members:
            if consumer.idle and _nothing_queued(layer, consumer.channel_name):
                now.append(consumer)
                if not redis:
                    continue
                # Still queued as well: its pending receive then returns this message
                # rather than being cancelled when the consumer stops (channels_redis can
                # leave a cancelled receive waiting in Redis for its 5 s BZPOPMIN timeout).
            queued.append(consumer)
        queued_on.append((layer, queued))
    for batch in batches(now):
        direct(batch)
        await asyncio.sleep(0)
    for layer, queued in queued_on:
        if not queued:
            continue
        try:
            failed = await _through(layer, queued, message, timeout)
        except Exception:
            logger.warning(
                "channel layer delivery failed; closing its consumers directly", exc_info=True
            )
            failed = queued  # the handler is idempotent: a second close is ignored
        if failed:
            direct(failed)


def _nothing_queued(layer: Any, channel: str) -> bool:
    """True when the layer holds no message for `channel` in this process (False: unknown)."""
    if isinstance(layer, InMemoryChannelLayer):
        waiting = layer.channels.get(channel)
    elif _is_channels_redis(layer):
        waiting = layer.receive_buffer.get(channel)  # a defaultdict: .get() adds nothing
    else:
        return False
    return waiting is None or waiting.empty()


async def _through(
    layer: Any, members: list[Any], message: dict[str, Any], timeout: float
) -> list[Any]:
    """Queue the close on each member's channel; the members it could not reach."""
    if _is_channels_redis(layer):
        buffers = layer.receive_buffer
        await each_in_batches(members, lambda c: buffers[c.channel_name].put_nowait(message))
        # The consumer holding the layer's receive lock waits in Redis, not on its buffer:
        # a message from Redis wakes it to find its close.
        await _round_trip(layer, await layer.new_channel(), timeout)
        return []
    failed: list[Any] = []
    for batch in batches(members):
        sends = [layer.send(consumer.channel_name, message) for consumer in batch]
        for consumer, result in zip(
            batch, await asyncio.gather(*sends, return_exceptions=True), strict=True
        ):
            if isinstance(result, Exception):  # e.g. ChannelFull: its queue is at capacity
                failed.append(consumer)
        await asyncio.sleep(0)
    return failed


def _is_channels_redis(layer: Any) -> bool:
    return hasattr(layer, "receive_buffer") and hasattr(layer, "client_prefix")


async def _flush_redis(layer: Any, consumers: int, timeout: float) -> None:
    """Return once what Redis held for this process before now is in the local buffers."""
    if not await _round_trip(layer, await layer.new_channel(), timeout):
        logger.warning(
            "the channel layer did not hand back a marker within %.1fs: messages still "
            "queued in it for %d consumers may arrive after their close",
            timeout,
            consumers,
        )


async def _round_trip(layer: Any, channel: str, timeout: float) -> bool:
    await layer.send(channel, {"type": _MARKER_TYPE})
    try:
        await asyncio.wait_for(layer.receive(channel), timeout)
    except TimeoutError:
        return False
    return True
