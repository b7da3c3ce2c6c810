"""Issue 13: the close path at scale, with both channel layers, sync and async consumers.

Real daphne and uvicorn processes (tests/asgi.py), real clients, real SIGTERM, the real
in-memory and Redis channel layers (Redis at REDIS_URL, default 127.0.0.1:6379; the Redis
cases skip when it does not answer). Speed is measured by benchmarks/websocket_close.py,
not here: these tests check that every socket still gets its close, in order.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal

import pytest

from tests.redis_service import unreachable
from tests.test_websockets import (
    REASON,
    Closed,
    assert_closed_cleanly,
    assert_no_errors,
    connect_then_sigterm,
    disconnect_tokens,
    open_clients,
    read_until_closed,
    start,
)
from tests.testapp.consumers import RECONNECT_MESSAGE

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
LAYER_CASES = [(kind, layer) for layer in ("memory", "redis") for kind in ("daphne", "uvicorn")]


def layer_env(layer: str) -> dict[str, str]:
    if layer == "memory":
        return {}
    missing = unreachable(REDIS_URL)
    if missing is not None:
        pytest.skip(f"{missing}: the Redis layer cases need one")
    return {"REDIS_URL": REDIS_URL}


@pytest.mark.parametrize(("kind", "layer"), LAYER_CASES)
def test_hundreds_of_sync_and_async_consumers_all_close_and_disconnect(server_factory, kind, layer):
    server = start(server_factory, kind, **layer_env(layer))
    routes = {"record": 100, "sync": 60, "json": 40, "syncjson": 40}
    if layer == "memory":
        # Not with Redis: a plain consumer's cancelled channels_redis receive can go on
        # waiting in Redis until the share ends (README, Performance: known limits).
        routes["plain"] = 20
    total, graceful = sum(routes.values()), sum(routes.values()) - routes.get("plain", 0)
    _, results = asyncio.run(connect_then_sigterm(server, routes, timeout=30))
    code = server.wait_exit(20)

    assert len(results) == total
    assert_closed_cleanly(results, server.output)  # 1001, the reason, the last message
    assert code == 0, server.output
    assert_no_errors(server.output)
    assert disconnect_tokens() == sorted(c.token for c in results)  # every disconnect ran
    assert (
        f"closing {total} websockets with code 1001 ({graceful} through their consumers)"
        in server.output
    )
    assert "force-closed" not in server.output and "still busy" not in server.output


async def queue_then_sigterm(server, count: int, queued: int) -> list[Closed]:
    clients = await open_clients(server, {"queued": count})
    readers = [asyncio.create_task(read_until_closed(*client)) for client in clients]
    for _, _, ws in clients:
        await ws.send(f"queue {queued}")
    # Each consumer has queued its messages on its own channel and is handling the first.
    await asyncio.to_thread(server.wait_for_count, r"QUEUED queued-", count)
    server.send(signal.SIGTERM)
    return await asyncio.wait_for(asyncio.gather(*readers), 20)


@pytest.mark.parametrize(("kind", "layer"), LAYER_CASES)
def test_messages_queued_before_the_shutdown_come_before_the_close(server_factory, kind, layer):
    server = start(server_factory, kind, **layer_env(layer))
    results = asyncio.run(queue_then_sigterm(server, count=20, queued=4))

    expected = [f"queued {n}" for n in range(4)] + [RECONNECT_MESSAGE]
    for closed in results:
        assert closed.messages == expected, (closed, server.output)
        assert (closed.code, closed.reason) == (1001, REASON), (closed, server.output)
    assert server.wait_exit(10) == 0, server.output
    assert_no_errors(server.output)
    assert len(disconnect_tokens()) == 20
    assert "still busy" not in server.output  # each read its close in turn, none was cut


def test_sync_consumer_busy_past_half_the_share_is_closed_from_the_loop(server_factory):
    # Past half the share (3 s of 6; its handler takes 3.5 s) the busy consumer is closed
    # directly. Dispatching a sync consumer from the loop used to fail with
    # "CurrentThreadExecutor already quit or is broken"; the close now runs on the loop.
    server = start(server_factory, "daphne", GRACEFUL_WS_CLOSE_TIMEOUT="6", **layer_env("redis"))

    async def scenario() -> list[Closed]:
        clients = await open_clients(server, {"busysync": 1, "record": 10})
        readers = [asyncio.create_task(read_until_closed(*client)) for client in clients]
        await clients[0][2].send("busy")
        await asyncio.to_thread(server.wait_for_log, "BUSY busysync-0")
        server.send(signal.SIGTERM)
        return await asyncio.wait_for(asyncio.gather(*readers), 20)

    results = asyncio.run(scenario())
    assert server.wait_exit(15) == 0, server.output
    for closed in results:
        assert (closed.code, closed.reason) == (1001, REASON), (closed, server.output)
    busy = server.wait_for_log("consumers still busy after")
    assert "BusySyncConsumer" in busy and "/ws/test/busysync/" in busy
    assert_no_errors(server.output)
    assert "CurrentThreadExecutor" not in server.output
    assert disconnect_tokens() == sorted(c.token for c in results)


@pytest.mark.parametrize("kind", ["daphne", "uvicorn"])
def test_every_close_frame_is_written_before_any_disconnect_runs(server_factory, kind):
    # Several batches (delivery.BATCH): uvicorn hands each consumer its disconnect as its
    # frame is written, and those of the first batches used to run between the frames of
    # the later ones, holding the last frame back. No layer: the in-memory one costs
    # O(channels) per connect, which is Channels', not the close's.
    count = 1600
    server = start(server_factory, kind, TEST_CHANNEL_LAYER="none")
    _, results = asyncio.run(connect_then_sigterm(server, {"order": count}, timeout=30))
    assert server.wait_exit(20) == 0, server.output
    assert {(c.code, c.reason) for c in results} == {(1001, REASON)}, server.output[-3000:]
    written = [float(t) for t in re.findall(r"ORDER close-written ([\d.]+)", server.output)]
    began = [float(t) for t in re.findall(r"ORDER disconnect ([\d.]+)", server.output)]
    assert len(written) == len(began) == count, server.output[-3000:]
    early = [t for t in began if t < max(written)]
    assert not early, f"{len(early)} disconnects ran before the last close frame was written"
    assert_no_errors(server.output)
