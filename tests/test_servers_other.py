"""Issue 11: the servers and processes beyond daphne and uvicorn, each a real process.

gunicorn (2 UvicornWorkers, SIGTERM to the master), hypercorn and granian each get sync
requests in their views and websockets, then SIGTERM: every request answers 200, every
websocket gets our close code and reason, a request after the signal is refused or served,
the process exits 0 with no database backend left. runworker stops on one SIGTERM;
runserver answers a request that a Ctrl+C interrupted.
"""

from __future__ import annotations

import asyncio
import importlib.util
import re
import signal
import time
from dataclasses import dataclass

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.servers import ServerProcess

REASON = "Server shutting down"  # conf.DEFAULT_WS_CLOSE_REASON
REQUESTS = 20  # the acceptance: 20 in-flight 1.5 s sync requests, 10 websockets
WEBSOCKETS = 10
SECONDS = 1.5
PACKAGE_OF = {
    "gunicorn": "gunicorn",
    "uvicorn-workers": "uvicorn",
    "hypercorn": "hypercorn",
    "granian": "granian",
}


def needs(package: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        importlib.util.find_spec(package) is None,
        reason=f"{package} is not installed (pip install -r requirements-test.txt)",
    )


def server_kinds(*kinds: str) -> list[object]:
    return [pytest.param(kind, marks=needs(PACKAGE_OF[kind])) for kind in kinds]


@dataclass
class Outcome:
    statuses: list[int | str]
    closes: list[tuple[int | None, str]]
    late: str


async def websocket_close(server: ServerProcess, index: int, opened: asyncio.Event) -> tuple:
    # Closed by the wrapper, and through a graceful consumer (with a last message first).
    route = ("plain", "record")[index % 2]
    async with connect(
        f"{server.ws_url}/ws/test/{route}/?token=ws-{index}", open_timeout=10, ping_interval=None
    ) as ws:
        opened.set()
        try:
            async for _ in ws:
                pass
        except ConnectionClosed:
            pass
        frame = ws.protocol.close_rcvd
        return (frame.code, frame.reason) if frame is not None else (None, "")


async def slow_request(
    client: httpx.AsyncClient, server: ServerProcess, index: int = 0, seconds: float = SECONDS
) -> int | str:
    url = f"{server.base_url}/slow/sync?seconds={seconds}&token=sync-{index}"
    try:
        return (await client.get(url)).status_code
    except httpx.HTTPError as error:
        return type(error).__name__


async def late_request(server: ServerProcess) -> str:
    """A request on a new connection after the signal: refused (the listener is closed), or
    served (it reached the process anyway: a listener we cannot close, the backlog)."""
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            return str((await client.get(f"{server.base_url}/ping")).status_code)
    except httpx.ConnectError:
        return "refused"
    except httpx.HTTPError as error:
        return type(error).__name__


async def load_then_sigterm(server: ServerProcess) -> Outcome:
    limits = httpx.Limits(max_connections=REQUESTS)
    async with httpx.AsyncClient(timeout=20, limits=limits) as client:
        opened = [asyncio.Event() for _ in range(WEBSOCKETS)]
        sockets = [
            asyncio.create_task(websocket_close(server, i, event)) for i, event in enumerate(opened)
        ]
        await asyncio.wait_for(asyncio.gather(*(event.wait() for event in opened)), 20)
        requests = [asyncio.create_task(slow_request(client, server, i)) for i in range(REQUESTS)]
        await asyncio.to_thread(server.wait_for_count, "wrote sync ", REQUESTS, 20)
        server.send(signal.SIGTERM)
        # Every worker has closed its listeners (gunicorn's master closes its own at once).
        stopped = "shutdown step: stop accepting"
        await asyncio.to_thread(server.wait_for_count, stopped, server.workers, 20)
        late = await late_request(server)
        statuses = await asyncio.gather(*requests)
        closes = await asyncio.wait_for(asyncio.gather(*sockets), 20)
    return Outcome(list(statuses), list(closes), late)


def backends_at_exit(output: str) -> list[str]:
    """What each serving process reported of its own database backends at the end."""
    # Searched, not split by lines: two workers' lines can meet on one line of the pipe.
    return re.findall(r"BACKENDS_AT_EXIT=(\d+)", output)


@pytest.mark.parametrize(
    "kind", server_kinds("gunicorn", "uvicorn-workers", "hypercorn", "granian")
)
def test_sigterm_drains_requests_and_closes_websockets(server_factory, kind):
    name = f"graceful-test-{kind}-{time.monotonic_ns()}"
    server = server_factory(
        kind,
        app="tests.asgi:application",
        env={
            "CONN_MAX_AGE": "600",
            "DATABASE_APPLICATION_NAME": name,
            "REPORT_BACKENDS_OF": name,
            "REPORT_BACKENDS_PER_PROCESS": "1",
        },
    )
    outcome = asyncio.run(load_then_sigterm(server))
    code = server.wait_exit(20)
    output = server.output

    assert outcome.statuses == [200] * REQUESTS, output
    assert outcome.closes == [(1001, REASON)] * WEBSOCKETS, output
    # uvicorn's supervisor and hypercorn's master keep their copy of the listening socket
    # until every worker is gone, and never accept on it (nor can a worker tell a reload,
    # where the next workers take the queue, from a stop): a connection queued after the
    # last worker closed its copy is reset when the master exits, as without graceful_django.
    masters = ("uvicorn-workers", "hypercorn")
    late_ok = ("refused", "200", "ReadError") if kind in masters else ("refused", "200")
    assert outcome.late in late_ok, output
    assert code == 0, output
    assert backends_at_exit(output) == ["0"] * server.workers, output
    assert "Traceback" not in output and "Errno 9" not in output, output
    assert "shorter than GRACEFUL_TIMEOUT" not in output, output  # gunicorn's is 40 s, ours 30


@needs("gunicorn")
def test_gunicorn_graceful_timeout_shorter_than_ours_is_warned(server_factory):
    server = server_factory("gunicorn", env={"GRACEFUL_TIMEOUT": "50"})
    warning = "gunicorn --graceful-timeout is 40s, shorter than GRACEFUL_TIMEOUT"
    server.wait_for_count(warning, server.workers)


def test_runworker_stops_on_one_sigterm(server_factory):
    server = server_factory("runworker")
    server.send(signal.SIGTERM)
    # The default SIGTERM kills it (-15); before issue 11 our handlers ignored it.
    assert server.wait_exit(10) == 0, server.output


def test_importing_the_app_does_not_arm(server_factory):
    """daphne.server is imported (daphne in INSTALLED_APPS), yet nothing serves: no handler."""
    server = server_factory("python-import")
    server.send(signal.SIGTERM)
    assert server.wait_exit(10) == -signal.SIGTERM, server.output
    assert "armed" not in server.output


ARMED_UNDER = {"daphne": "armed under daphne", "django": "armed under Django's runserver"}


@pytest.mark.parametrize("runserver", ARMED_UNDER)
def test_ctrl_c_during_a_request_still_answers_it(server_factory, runserver):
    env = {"TEST_WITHOUT_DAPHNE": "1"} if runserver == "django" else {}
    server = server_factory("runserver", env=env)
    assert ARMED_UNDER[runserver] in server.output

    async def request_then_ctrl_c() -> int | str:
        async with httpx.AsyncClient(timeout=20) as client:
            request = asyncio.create_task(slow_request(client, server, seconds=1.0))
            await asyncio.to_thread(server.wait_for_log, "wrote sync ", 20)
            server.send(signal.SIGINT)
            return await request

    assert asyncio.run(request_then_ctrl_c()) == 200, server.output
    assert server.wait_exit(20) == 0, server.output
