"""Issue 10: every connection's last moments at shutdown, under daphne and uvicorn.

Real server processes, raw sockets (tests/rawhttp.py) so that an EOF or a reset where a
response was due is seen as such, real SIGTERM, the real PostgreSQL.
"""

from __future__ import annotations

import re
import signal
import socket
import threading
import time

import pytest

from project.demo.models import Write
from tests.rawhttp import Dropped, RawConnection, Response, head, read_slowly
from tests.servers import ServerProcess

SERVERS = ["daphne", "uvicorn"]
DRAINING = "shutdown step: drain requests"
MEGABYTE = 1024 * 1024


def start(server_factory, kind: str, **env: str) -> ServerProcess:
    return server_factory(kind, env=env)


def response_or_log(connection: RawConnection, server: ServerProcess) -> Response:
    """The response due on `connection`; a drop fails with the server's whole log."""
    try:
        return connection.read_response()
    except Dropped as error:
        server.wait_exit(20)
        raise AssertionError(f"{error}\n{server.output}") from error


def kept_alive_during_a_drain(
    server: ServerProcess, count: int, token: str, seconds: float
) -> tuple[list[RawConnection], RawConnection]:
    """`count` kept-alive connections, each answered once, and a slow request in flight;
    then SIGTERM, and back once the drain step runs."""
    kept_alive = [RawConnection(server.port) for _ in range(count)]
    for connection in kept_alive:
        connection.request("GET", "/ping")
        assert connection.read_response().status == 200
    slow = RawConnection(server.port)
    slow.request("GET", f"/slow/async?seconds={seconds}&token={token}")
    server.wait_for_log(f"wrote async {token}")
    server.send(signal.SIGTERM)
    server.wait_for_log(DRAINING)
    return kept_alive, slow


@pytest.mark.parametrize("kind", SERVERS)
def test_idle_and_kept_alive_connections_are_served_not_met_with_an_eof(server_factory, kind):
    server = start(server_factory, kind)
    fresh = RawConnection(server.port)  # as a load balancer pre-opens them
    kept_alive = RawConnection(server.port)
    kept_alive.request("GET", "/ping")
    assert kept_alive.read_response().status == 200
    slow = RawConnection(server.port)
    slow.request("GET", "/slow/async?seconds=2&token=slow")
    server.wait_for_log("wrote async slow")
    server.send(signal.SIGTERM)
    server.wait_for_log(DRAINING)
    if kind == "uvicorn":
        # uvicorn calls shutdown() on every connection (closing idle ones, unless deferred
        # by graceful_django) right after this line.
        server.wait_for_log("Shutting down")
    answers: dict[str, Response | Exception] = {}
    for name, connection in (("fresh", fresh), ("kept alive", kept_alive)):
        try:
            connection.request("GET", "/ping")
            answers[name] = connection.read_response()
        except (Dropped, OSError) as error:
            answers[name] = error
    assert slow.read_response().status == 200
    assert server.wait_exit(20) == 0, server.output
    for name, answer in answers.items():
        assert isinstance(answer, Response), (name, answer)
        # Served, and told to take the next request elsewhere.
        assert answer.status == 200 and answer.closes, (name, answer, answer.headers)


@pytest.mark.parametrize("kind", SERVERS)
def test_past_the_serving_cutoff_a_late_request_gets_a_503(server_factory, kind):
    """Served with Connection: close while its response can fit, refused after the cutoff."""
    server = start(server_factory, kind, GRACEFUL_TIMEOUT="8", GRACEFUL_SERVE_CUTOFF="5")
    # The slow request holds the drain past the cutoff (3 s after the signal).
    (early, late), slow = kept_alive_during_a_drain(server, 2, "cutoff", seconds=5)
    early.request("GET", "/ping")
    answer = response_or_log(early, server)
    assert answer.status == 200 and answer.closes, answer
    server.wait_for_log("serving cutoff: 5s before GRACEFUL_TIMEOUT")
    late.request("GET", "/ping")
    answer = response_or_log(late, server)
    assert answer.status == 503 and answer.closes and answer.headers.get("retry-after"), answer
    assert slow.read_response().status == 200
    assert server.wait_exit(20) == 0, server.output


@pytest.mark.parametrize("kind", SERVERS)
def test_in_refuse_mode_a_kept_alive_connection_gets_a_503(server_factory, kind):
    """GRACEFUL_DRAIN_MODE = "refuse": the 503 of graceful_django 0.1, as soon as the drain runs."""
    server = start(server_factory, kind, GRACEFUL_DRAIN_MODE="refuse")
    [kept_alive], slow = kept_alive_during_a_drain(server, 1, "refuse", seconds=2)
    kept_alive.request("GET", "/ping")
    answer = response_or_log(kept_alive, server)
    assert answer.status == 503 and answer.closes and answer.headers.get("retry-after"), answer
    assert slow.read_response().status == 200
    assert server.wait_exit(20) == 0, server.output


# Where the loop is held while the request arrives, and the line that says it is held.
HELD = {
    "in a hook": (
        {"TEST_GRACEFUL_HOOKS": '["tests.testapp.hooks.blocks_the_loop"]'},
        "HOOK_BLOCKS_LOOP",
    ),
    "as the close step starts": (
        {"TEST_BLOCK_AT_STEP": "close connections"},
        "BLOCKING_AT_STEP close connections",
    ),
}


@pytest.mark.parametrize("held", HELD)
@pytest.mark.parametrize("kind", [*SERVERS, "uvicorn --loop asyncio"])
def test_request_unread_when_the_connections_close_is_served(server_factory, kind, held):
    """Sent on an idle connection while the loop cannot read it, just before the idle ones
    close: served, then closed.

    (asyncio's own loop runs the step before it reads the socket, uvloop the other way
    round: under asyncio's, uvicorn alone would reset the connection under the request.)
    """
    env, line = HELD[held]
    env = dict(env)
    if kind.endswith("asyncio"):
        kind, env["UVICORN_LOOP"] = "uvicorn", "asyncio"
    server = start(server_factory, kind, **env)
    idle = RawConnection(server.port)
    idle.request("GET", "/ping")
    assert idle.read_response().status == 200
    server.send(signal.SIGTERM)
    server.wait_for_log(line)
    idle.request("GET", "/ping")
    answer = response_or_log(idle, server)
    assert answer.status == 200 and answer.closes, answer
    assert server.wait_exit(20) == 0, server.output


@pytest.mark.parametrize("kind", [*SERVERS, "hypercorn", "granian"])
def test_client_slow_to_send_its_next_request_is_served(server_factory, kind):
    """A client starved of the CPU (a reload boots new workers on every core) sends its next
    request on its kept-alive connection a second after its last response, as the idle
    connections are about to close: served, then closed (with a 0.5 s grace: reset, in CI)."""
    server = start(server_factory, kind)
    connection = RawConnection(server.port)
    connection.request("GET", "/ping")
    assert connection.read_response().status == 200
    answered = time.monotonic()
    server.send(signal.SIGTERM)
    server.wait_for_log("shutdown step: close connections")
    # The client's pause is what the test is about: not a wait for the server.
    time.sleep(max(0.0, answered + 1.0 - time.monotonic()))
    connection.request("GET", "/ping")
    answer = response_or_log(connection, server)
    assert answer.status == 200 and answer.closes, answer
    assert server.wait_exit(20) == 0, server.output


@pytest.mark.parametrize("kind", SERVERS)
def test_connection_in_the_kernel_backlog_at_sigterm_is_answered(server_factory, kind):
    """Completed by the kernel just before the listener closes: answered, never reset."""
    server = start(server_factory, kind, TEST_BLOCK_WHEN_REFUSING="1")
    slow = RawConnection(server.port)
    slow.request("GET", "/slow/async?seconds=2&token=slow")
    server.wait_for_log("wrote async slow")
    server.send(signal.SIGTERM)
    server.wait_for_log("BLOCKING_BEFORE_STOP_ACCEPTING")
    # In the backlog: the loop accepts nothing now. Forty of them, all answered.
    waiting = [RawConnection(server.port) for _ in range(40)]
    for connection in waiting:
        connection.request("GET", "/ping")
    for connection in waiting:
        answer = response_or_log(connection, server)
        assert answer.status == 200 and answer.closes, answer
    assert slow.read_response().status == 200
    assert server.wait_exit(20) == 0, server.output


@pytest.mark.parametrize("kind", SERVERS)
def test_large_response_read_slowly_arrives_whole(server_factory, kind):
    """20 MB plain HttpResponse read at 5 MB/s, SIGTERM 0.5 s in."""
    server = start(server_factory, kind, GRACEFUL_TIMEOUT="20")
    connection = RawConnection(server.port)
    started = threading.Event()
    result: list[int] = []
    reader = threading.Thread(
        target=lambda: result.append(
            read_slowly(connection, "/test/big?mb=20", 5 * MEGABYTE, started)
        )
    )
    reader.start()
    assert started.wait(15)
    time.sleep(0.5)  # the scenario: the signal comes half a second into the download
    server.send(signal.SIGTERM)
    reader.join(30)
    assert result == [20 * MEGABYTE], (result, server.output)
    assert server.wait_exit(20) == 0, server.output
    if kind == "daphne":
        # The report shows where the time went: the last step waited for the bytes to leave.
        report = server.wait_for_log("graceful shutdown took")
        assert re.search(r"close connections [1-9]\d*ms", report), report


@pytest.mark.parametrize("kind", SERVERS)
def test_client_that_stops_reading_is_bounded_and_named(server_factory, kind):
    server = start(server_factory, kind, GRACEFUL_TIMEOUT="3")
    connection = RawConnection(server.port)
    connection.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    connection.request("GET", "/test/big?mb=20")
    connection.sock.recv(1024)  # the response began; from now on nothing is read
    server.send(signal.SIGTERM)
    server.wait_exit(20)
    local_port = connection.sock.getsockname()[1]
    if kind == "daphne":
        line = server.wait_for_log("did not read their responses")
        assert f"127.0.0.1:{local_port}" in line, line
    else:
        # uvicorn applies back-pressure: the view's response is still being sent.
        assert re.search(r"GRACEFUL_TIMEOUT of 3(\.0)?s reached.*GET /test/big", server.output)
    connection.close()


@pytest.mark.parametrize("kind", SERVERS)
def test_upload_in_progress_at_sigterm_is_served(server_factory, kind):
    """Headers and the first 1 KB before the signal: admitted, so served and stored."""
    server = start(server_factory, kind)
    body = b"u" * (256 * 1024)
    upload = RawConnection(server.port)
    upload.send(head("POST", "/test/upload?token=up", len(body)) + body[:1024])
    # A request on another connection answered after the upload's first bytes were sent:
    # the server has read the upload's headers by then (one loop reads both sockets).
    probe = RawConnection(server.port)
    probe.request("GET", "/ping")
    assert probe.read_response().status == 200
    server.send(signal.SIGTERM)
    server.wait_for_log(DRAINING)
    upload.send(body[1024:])
    response = upload.read_response()
    assert response.status == 200, (response, server.output)
    assert server.wait_exit(20) == 0, server.output
    assert Write.objects.filter(kind="upload", token="up").count() == 1


@pytest.mark.parametrize("kind", SERVERS)
def test_websocket_client_that_never_answers_the_close_is_cut_and_named(server_factory, kind):
    """RFC 6455 7.1.1 waits for the client's close frame; one that never comes is bounded."""
    server = server_factory(
        kind, env={"GRACEFUL_WS_CLOSE_TIMEOUT": "1"}, app="tests.asgi:application"
    )
    silent = RawConnection(server.port)
    silent.send(
        head(
            "GET",
            "/ws/test/plain/?token=silent",
            headers={
                "Upgrade": "websocket",
                "Connection": "Upgrade",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                "Sec-WebSocket-Version": "13",
            },
        )
    )
    assert silent.read_response().status == 101
    server.send(signal.SIGTERM)  # from now on the client reads and answers nothing
    assert server.wait_exit(20) == 0, server.output
    local_port = silent.sock.getsockname()[1]
    line = server.wait_for_log(r"cut 1 websockets")
    assert f"127.0.0.1:{local_port}" in line, line
    # Its application had its disconnect at the close frame, under both servers: it did not
    # wait for an answer that never came.
    ended = server.output.find("every websocket application ended")
    assert 0 <= ended < server.output.find(line), server.output
