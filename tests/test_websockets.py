"""Issue 3: every websocket gets a clean close frame at shutdown, under daphne and uvicorn.

Real server processes (tests/asgi.py routes to tests/testapp/consumers.py), real
websocket clients from the `websockets` package, real SIGTERM; each consumer writes a
`Write(kind="ws-disconnect")` row in its `disconnect`, so the rows count the disconnects
that ran.
"""

from __future__ import annotations

import asyncio
import signal
import time
from dataclasses import dataclass, field

import pytest
from django.test import override_settings
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from graceful_django.websockets import checks as websocket_checks
from graceful_django.websockets.transport import encode_reason, is_sendable_close_code
from project.demo.models import Write
from tests.servers import ServerProcess
from tests.testapp.consumers import DISCONNECT_KIND, RECONNECT_MESSAGE

SERVERS = ["daphne", "uvicorn"]
REASON = "Server shutting down"  # conf.DEFAULT_WS_CLOSE_REASON
JSON_LAST_MESSAGE = '{"type": "restarting", "message": "' + RECONNECT_MESSAGE + '"}'
LAST_MESSAGE_OF = {
    "record": [RECONNECT_MESSAGE],
    "sync": [RECONNECT_MESSAGE],
    "json": [JSON_LAST_MESSAGE],
    "syncjson": [JSON_LAST_MESSAGE],
    "plain": [],
    "wrapped": [RECONNECT_MESSAGE],
    "hang": [],
    "slowconnect": [],
}


@dataclass
class Closed:
    """What one client saw: the messages, then the close frame (code None: none came, 1006)."""

    route: str
    token: str
    messages: list[str | bytes] = field(default_factory=list)
    code: int | None = None
    reason: str = ""
    at: float = 0.0


def start(server_factory, kind: str, **env: str) -> ServerProcess:
    return server_factory(kind, env=env, app="tests.asgi:application")


def url(server: ServerProcess, route: str, token: str, **query: str) -> str:
    extra = "".join(f"&{key}={value}" for key, value in query.items())
    return f"{server.ws_url}/ws/test/{route}/?token={token}{extra}"


async def open_clients(
    server: ServerProcess, routes: dict[str, int]
) -> list[tuple[str, str, ClientConnection]]:
    """`count` clients per route, opened concurrently (at most 50 handshakes at a time)."""
    gate = asyncio.Semaphore(50)

    async def one(route: str, token: str) -> tuple[str, str, ClientConnection]:
        async with gate:
            ws = await connect(url(server, route, token), open_timeout=10, ping_interval=None)
        return route, token, ws

    return await asyncio.gather(
        *(one(route, f"{route}-{i}") for route, count in routes.items() for i in range(count))
    )


async def read_until_closed(route: str, token: str, ws: ClientConnection) -> Closed:
    closed = Closed(route, token)
    try:
        async for message in ws:
            closed.messages.append(message)
    except ConnectionClosed:
        pass
    closed.at = time.monotonic()
    frame = ws.protocol.close_rcvd
    if frame is not None:
        closed.code, closed.reason = frame.code, frame.reason
    return closed


async def connect_then_sigterm(
    server: ServerProcess, routes: dict[str, int], timeout: float = 15.0
) -> tuple[float, list[Closed]]:
    clients = await open_clients(server, routes)
    readers = [asyncio.create_task(read_until_closed(*client)) for client in clients]
    sent = server.send(signal.SIGTERM)
    return sent, await asyncio.wait_for(asyncio.gather(*readers), timeout)


def disconnect_tokens() -> list[str]:
    return sorted(Write.objects.filter(kind=DISCONNECT_KIND).values_list("token", flat=True))


def assert_no_errors(output: str) -> None:
    """Nothing crashed, and no server complained (uvicorn logs a refused handshake as ERROR
    when the app returns too early, daphne a close code autobahn refuses as a Traceback)."""
    assert "Traceback" not in output and "ERROR" not in output, output


def assert_closed_cleanly(results: list[Closed], output: str) -> None:
    abnormal = [(c.route, c.token, c.code) for c in results if c.code != 1001 or c.reason != REASON]
    assert not abnormal, f"{len(abnormal)} clients not closed with 1001: {abnormal[:5]}\n{output}"
    for closed in results:
        assert closed.messages == LAST_MESSAGE_OF[closed.route], (closed, output)


@pytest.mark.parametrize("kind", SERVERS)
def test_sigterm_closes_every_websocket_with_1001(server_factory, kind):
    server = start(server_factory, kind)
    routes = {"record": 80, "sync": 40, "json": 30, "syncjson": 30, "plain": 20}
    sent, results = asyncio.run(connect_then_sigterm(server, routes))
    code = server.wait_exit(10)

    assert len(results) == 200
    assert_closed_cleanly(results, server.output)
    assert code == 0, server.output
    assert_no_errors(server.output)
    # Every consumer's disconnect ran, the plain ones (closed by the wrapper) too.
    assert disconnect_tokens() == sorted(c.token for c in results)
    assert "closing 200 websockets with code 1001 (180 through their consumers)" in server.output


@pytest.mark.parametrize("kind", SERVERS)
def test_hanging_disconnect_is_forced_without_holding_up_the_others(server_factory, kind):
    share = 1.5
    server = start(server_factory, kind, GRACEFUL_WS_CLOSE_TIMEOUT=str(share))
    sent, results = asyncio.run(connect_then_sigterm(server, {"hang": 1, "record": 50}))
    forced = server.wait_for_log("force-closed 1 websockets", timeout=share + 5)
    # Read at the moment the share ended: the others' disconnects had all run by then.
    rows_when_forced = len(disconnect_tokens())
    code = server.wait_exit(10)

    assert_closed_cleanly(results, server.output)
    assert rows_when_forced == 50
    assert "HangingConsumer" in forced and "/ws/test/hang/" in forced
    assert code == 0, server.output
    assert_no_errors(server.output)
    assert "GRACEFUL_TIMEOUT of" not in server.output  # the hung one did not hold the exit


async def handshake_status(target: str) -> int | str:
    try:
        ws = await connect(target, open_timeout=5, ping_interval=None)
    except InvalidStatus as error:
        return error.response.status_code
    except OSError as error:
        return type(error).__name__
    await ws.close()
    return 101


@pytest.mark.parametrize("kind", SERVERS)
def test_handshake_during_the_pre_drain_delay_is_served_then_closed_cleanly(server_factory, kind):
    # The load balancer still sends traffic during the delay: websockets are served like
    # requests, and closed with the others at the close step.
    server = start(server_factory, kind, GRACEFUL_PRE_DRAIN_DELAY="1")

    async def scenario() -> list[Closed]:
        [client] = await open_clients(server, {"record": 1})
        readers = [asyncio.create_task(read_until_closed(*client))]
        server.send(signal.SIGTERM)
        await asyncio.to_thread(server.wait_for_log, "shutdown step: pre-drain delay")
        ws = await connect(url(server, "record", "late"), open_timeout=5, ping_interval=None)
        readers.append(asyncio.create_task(read_until_closed("record", "late", ws)))
        return await asyncio.wait_for(asyncio.gather(*readers), 10)

    closes = asyncio.run(scenario())
    assert_closed_cleanly(closes, server.output)
    assert server.wait_exit(10) == 0, server.output
    assert_no_errors(server.output)
    assert disconnect_tokens() == ["late", "record-0"]


@pytest.mark.parametrize("kind", SERVERS)
def test_handshake_in_flight_at_the_signal_is_refused_not_accepted(server_factory, kind):
    # Past the pre-drain delay (none here) a socket would be closed the moment it opened: a
    # 503 instead, which a proxy can retry on another instance (an upgrade is a GET).
    server = start(server_factory, kind)

    async def scenario() -> int | str:
        handshake = asyncio.create_task(
            handshake_status(url(server, "slowconnect", "slow", delay="1"))
        )
        await asyncio.to_thread(server.wait_for_log, "SLOW_CONNECT_STARTED slow")
        server.send(signal.SIGTERM)
        return await asyncio.wait_for(handshake, 10)

    status = asyncio.run(scenario())
    assert status == 503, server.output
    assert server.wait_exit(10) == 0, server.output
    assert_no_errors(server.output)
    assert disconnect_tokens() == ["slow"]  # its disconnect ran


def test_redis_channel_layer_takes_the_same_path(server_factory):
    server = start(server_factory, "daphne", REDIS_URL="redis://127.0.0.1:6379/0")
    _, results = asyncio.run(connect_then_sigterm(server, {"record": 30, "sync": 20}))
    assert_closed_cleanly(results, server.output)
    assert server.wait_exit(10) == 0, server.output
    assert_no_errors(server.output)
    assert len(disconnect_tokens()) == 50


@pytest.mark.parametrize("kind", SERVERS)
def test_a_consumer_behind_a_middleware_that_wraps_receive_still_closes_gracefully(
    server_factory, kind
):
    server = start(server_factory, kind)
    _, results = asyncio.run(connect_then_sigterm(server, {"wrapped": 3, "record": 3}))
    assert_closed_cleanly(results, server.output)  # with each consumer's last message
    assert server.wait_exit(10) == 0, server.output
    assert "closing 6 websockets with code 1001 (6 through their consumers)" in server.output
    assert len(disconnect_tokens()) == 6


@pytest.mark.parametrize("kind", SERVERS)
def test_without_a_channel_layer_consumers_are_closed_directly(server_factory, kind):
    server = start(server_factory, kind, TEST_CHANNEL_LAYER="none")
    routes = {"record": 20, "sync": 10, "json": 10, "plain": 5}
    _, results = asyncio.run(connect_then_sigterm(server, routes))
    assert_closed_cleanly(results, server.output)
    assert server.wait_exit(10) == 0, server.output
    assert_no_errors(server.output)
    assert len(disconnect_tokens()) == 45


def test_idle_websocket_server_exits_at_once(server_factory):
    server = start(server_factory, "daphne", GRACEFUL_TIMEOUT="60")
    server.send(signal.SIGTERM)
    assert server.wait_exit(10) == 0, server.output
    assert "GRACEFUL_TIMEOUT of" not in server.output


# The close frame's limits.


def test_sendable_close_codes():
    assert [c for c in range(999, 1017) if is_sendable_close_code(c)] == [
        1000,
        1001,
        1002,
        1003,
        1007,
        1008,
        1009,
        1010,
        1011,
        1012,
        1013,
        1014,
    ]
    assert is_sendable_close_code(3000) and is_sendable_close_code(4999)
    assert not any(is_sendable_close_code(c) for c in (2999, 5000, True, "1001", 1001.0))


def test_reason_is_cut_to_123_bytes_without_splitting_a_character():
    assert encode_reason("é" * 70) == ("é" * 61).encode()  # 122 bytes: the 62nd would not fit
    assert encode_reason("bye") == b"bye"


# System checks: one test per id.


def test_default_websocket_settings_pass_the_checks():
    for check in websocket_checks.ALL_CHECKS:
        assert check() == []


@pytest.mark.parametrize("code", [1005, 1015, 2000, 5000, "1001", None])
def test_e010_close_code_not_sendable(code):
    with override_settings(GRACEFUL_WS_CLOSE_CODE=code):
        [error] = websocket_checks.check_ws_close_code()
    assert error.id == "graceful_django.E010"
    with override_settings(GRACEFUL_WS_CLOSE_CODE=1012):
        assert websocket_checks.check_ws_close_code() == []


@pytest.mark.parametrize("reason", ["x" * 124, "é" * 62, b"bytes"])
def test_e011_close_reason_too_long_or_not_text(reason):
    with override_settings(GRACEFUL_WS_CLOSE_REASON=reason):
        [error] = websocket_checks.check_ws_close_reason()
    assert error.id == "graceful_django.E011"
    with override_settings(GRACEFUL_WS_CLOSE_REASON="é" * 61):
        assert websocket_checks.check_ws_close_reason() == []


@pytest.mark.parametrize("timeout", [-1, "5", None])
def test_e012_close_timeout_not_a_non_negative_number(timeout):
    with override_settings(GRACEFUL_WS_CLOSE_TIMEOUT=timeout):
        [error] = websocket_checks.check_ws_close_timeout()
    assert error.id == "graceful_django.E012"
    with override_settings(GRACEFUL_WS_CLOSE_TIMEOUT=0):
        assert websocket_checks.check_ws_close_timeout() == []


def test_w010_close_timeout_not_shorter_than_the_whole_timeout():
    with override_settings(GRACEFUL_WS_CLOSE_TIMEOUT=30, GRACEFUL_TIMEOUT=30):
        [warning] = websocket_checks.check_ws_close_timeout()
    assert warning.id == "graceful_django.W010"
