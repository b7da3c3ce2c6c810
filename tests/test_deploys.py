"""Issue 17: the deploys people run, under load, with real servers and real signals.

- SIGTERM to the whole process group (systemd's KillMode=control-group, dumb-init,
  foreman, `kill -TERM -- -PGID`): each worker hears it from the supervisor and again from
  its master; the repeated SIGTERM must not force the exit.
- SIGHUP worker reloads: gunicorn's, uvicorn's and granian's masters start new workers and
  stop the old ones, which drain among live siblings; hypercorn's stops every old worker
  first (the connections made meanwhile wait in the socket's queue). No client sees an error.
- Socket activation (a listening socket held by systemd, handed over as fd 3): a restart,
  and two instances overlapping on the one socket.

Each asserts what the clients saw (tests/deploy_load.py): no non-2xx, no connection error,
every acknowledged write stored exactly once. Timings go to benchmarks/deploy_table.py.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import Iterator

import httpx
import pytest

from project.demo.models import Write
from tests.deploy_load import Load, summarize
from tests.servers import ServerProcess

# Under load, every client error counted: run alone (tests/run_suite.py).
pytestmark = pytest.mark.serial

GROUPS = ["gunicorn", "uvicorn-workers"]
# Django's advice under ASGI (no persistent connections): with them, every thread asgiref
# starts keeps one, and three workers under load pass PostgreSQL's max_connections (100)
# during a reload, plain servers as much as ours.
ENV = {"CONN_MAX_AGE": "0"}
IN_FLIGHT = 10


def stored_tokens() -> list[str]:
    return list(Write.objects.filter(token__regex=r"^d\d+-").values_list("token", flat=True))


@pytest.mark.parametrize("kind", GROUPS)
def test_sigterm_to_the_process_group_answers_every_request(server_factory, kind):
    server: ServerProcess = server_factory(kind, env=ENV)
    assert server.process is not None
    group = server.process.pid  # a session of its own (tests/servers.py)

    async def scenario() -> list[int | str]:
        async with httpx.AsyncClient(timeout=20) as client:

            async def slow(index: int) -> int | str:
                url = f"{server.base_url}/slow/sync?seconds=1&token=group-{index}"
                try:
                    return (await client.get(url)).status_code
                except httpx.HTTPError as error:
                    return type(error).__name__

            requests = [asyncio.create_task(slow(i)) for i in range(IN_FLIGHT)]
            await asyncio.to_thread(server.wait_for_count, "wrote sync group-", IN_FLIGHT, 20)
            # As systemd's control group (and dumb-init, foreman) does: every process at once.
            os.killpg(group, signal.SIGTERM)
            return list(await asyncio.gather(*requests))

    statuses = asyncio.run(scenario())
    code = server.wait_exit(30)
    assert statuses == [200] * IN_FLIGHT, server.output
    assert code == 0, server.output
    assert "forcing exit" not in server.output, server.output
    assert server.output.count("graceful shutdown took") == server.workers, server.output


# The line each server's master logs once its reload is done, and how many times.
RELOADED = {
    "gunicorn": "Application startup complete",
    "uvicorn-workers": "Application startup complete",
    "granian-workers": "graceful shutdown armed",
    "hypercorn-workers": "graceful shutdown armed",
}


@pytest.mark.parametrize("kind", list(RELOADED))
def test_sighup_reload_under_load_shows_no_error(server_factory, kind):
    server: ServerProcess = server_factory(kind, env=ENV)

    async def scenario() -> Load:
        load = Load("127.0.0.1", server.port, clients=20)
        load.start(seconds=60)
        await load.answered(100)
        server.send(signal.SIGHUP)
        # Every old worker drained and exited, every new one serves.
        await asyncio.to_thread(server.wait_for_count, "graceful shutdown took", 2, 40)
        await asyncio.to_thread(server.wait_for_count, RELOADED[kind], 2 * server.workers, 40)
        # And the new workers carry the load for a moment.
        await load.answered_more(200)
        load.stop()
        await load.finished()
        return load

    load = asyncio.run(scenario())
    summary = summarize(load, stored_tokens())
    print(f"{kind} SIGHUP: {summary.row()}")
    assert summary.clean and not summary.doubled_writes, (summary.problems, server.output)
    server.send(signal.SIGTERM)
    assert server.wait_exit(30) == 0, server.output


@pytest.fixture
def held_socket() -> Iterator[socket.socket]:
    """A listening socket the test holds across server processes, as a systemd .socket unit."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    yield sock
    sock.close()


@pytest.mark.parametrize("overlap", [False, True], ids=["restart", "overlap"])
@pytest.mark.parametrize("kind", ["daphne", "uvicorn", "gunicorn"])
def test_socket_activated_restart_shows_no_error(server_factory, held_socket, kind, overlap):
    """restart: the old process drains and exits, then the new one starts; connections made
    meanwhile wait in the held socket's queue. overlap: the new one serves on the same
    socket before the old one is stopped, which leaves the socket's connections to it."""
    first: ServerProcess = server_factory(kind, env=ENV, listen_socket=held_socket)

    def successor() -> ServerProcess:
        server: ServerProcess = server_factory(kind, env=ENV, listen_socket=held_socket)
        return server

    async def scenario() -> tuple[Load, int, ServerProcess]:
        load = Load("127.0.0.1", first.port, clients=20)
        load.start(seconds=60)
        await load.answered(100)
        if overlap:
            second = await asyncio.to_thread(successor)
        first.send(signal.SIGTERM)
        code = await asyncio.to_thread(first.wait_exit, 30)
        if not overlap:
            second = await asyncio.to_thread(successor)
        await load.answered_more(200)
        load.stop()
        await load.finished()
        return load, code, second

    load, code, second = asyncio.run(scenario())
    summary = summarize(load, stored_tokens())
    print(f"{kind} socket-activated {'overlap' if overlap else 'restart'}: {summary.row()}")
    assert summary.clean and not summary.doubled_writes, (summary.problems, first.output)
    assert code == 0, first.output
    second.send(signal.SIGTERM)
    assert second.wait_exit(30) == 0, second.output
