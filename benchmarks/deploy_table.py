"""Every deploy method users run, plain server against graceful_django, in one run.

    python -m benchmarks.deploy_table [--clients 20] [--only NAME ...]

Each row runs the load of tests/deploy_load.py (keep-alive clients, GETs and POSTs that
write a row with a unique token, reconnecting as browsers and proxies do) through one
deploy, and prints what the clients saw: requests sent, non-2xx, connection errors, writes
lost (acknowledged, not stored) or doubled, p99 latency during the deploy. Scenarios are
registered in SCENARIOS (name -> function), so that other modules can add rows
(benchmarks/deploy_proxies.py, where present, adds the proxies').

Needs a PostgreSQL: DATABASE_URL, or the embedded one the tests use.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tests.deploy_load import Load, Summary, summarize
from tests.servers import ARMED, PLAIN_READY, READY, ServerProcess

from .shutdown_table import bench_database, stored_tokens

PLAIN = ("benchmarks.asgi_plain:application", "benchmarks.settings_plain")
GRACEFUL = ("tests.asgi:application", "tests.settings")


@dataclass
class Setup:
    graceful: bool
    database_url: str
    clients: int

    def server(self, kind: str, **kwargs: object) -> ServerProcess:
        app, settings = GRACEFUL if self.graceful else PLAIN
        env = {
            "DATABASE_URL": self.database_url,
            "DJANGO_SETTINGS_MODULE": settings,
            # No persistent connections under ASGI (Django's advice): with them, three
            # workers under load pass PostgreSQL's max_connections during a reload.
            "CONN_MAX_AGE": "0",
        }
        process = ServerProcess(kind, app=app, env=env, graceful=self.graceful, **kwargs)  # type: ignore[arg-type]
        return process.start(timeout=40)


Scenario = Callable[[Setup, Load], Awaitable[list[ServerProcess]]]
SCENARIOS: dict[str, tuple[str, Scenario]] = {}  # name -> (server kind, scenario)


def scenario(name: str, kind: str) -> Callable[[Scenario], Scenario]:
    def register(function: Scenario) -> Scenario:
        SCENARIOS[name] = (kind, function)
        return function

    return register


def _hup(kind: str) -> Scenario:
    async def run(setup: Setup, load: Load) -> list[ServerProcess]:
        server = setup.server(kind)
        load.port = server.port
        load.start()
        await load.answered(100)
        server.send(signal.SIGHUP)
        # The new workers ready (each logs it, as the first ones did), then the load goes on
        # while the old ones drain.
        ready = READY.get(kind, ARMED) if setup.graceful else PLAIN_READY[kind]
        await asyncio.to_thread(server.wait_for_count, ready, 2 * server.workers, 60)
        await load.answered_more(300)
        return [server]

    return run


def _process_group(kind: str) -> Scenario:
    async def run(setup: Setup, load: Load) -> list[ServerProcess]:
        server = setup.server(kind)
        assert server.process is not None
        load.port = server.port
        load.start()
        await load.answered(100)
        os.killpg(server.process.pid, signal.SIGTERM)  # systemd's control group
        # A full stop: what counts is the requests in flight; nothing serves new ones.
        load.stop()
        await asyncio.to_thread(server.wait_exit, 60)
        return [server]

    return run


def _socket_activated(kind: str, overlap: bool) -> Scenario:
    async def run(setup: Setup, load: Load) -> list[ServerProcess]:
        held = socket.socket()
        held.bind(("127.0.0.1", 0))
        held.listen(1024)
        first = setup.server(kind, listen_socket=held)
        load.port = first.port
        load.start()
        await load.answered(100)
        second = (
            await asyncio.to_thread(setup.server, kind, listen_socket=held) if overlap else None
        )
        first.send(signal.SIGTERM)
        await asyncio.to_thread(first.wait_exit, 60)
        if second is None:
            second = await asyncio.to_thread(setup.server, kind, listen_socket=held)
        await load.answered_more(200)
        held.close()
        return [first, second]

    return run


for _kind in ("gunicorn", "uvicorn-workers", "hypercorn-workers", "granian-workers"):
    scenario(f"SIGHUP reload, {_kind} (2 workers)", _kind)(_hup(_kind))
for _kind in ("gunicorn", "uvicorn-workers"):
    scenario(f"SIGTERM to the process group, {_kind}", _kind)(_process_group(_kind))
for _kind in ("daphne", "uvicorn", "gunicorn"):
    for _overlap in (False, True):
        how = "overlap" if _overlap else "restart"
        scenario(f"socket-activated {how}, {_kind}", _kind)(_socket_activated(_kind, _overlap))


async def measure(name: str, graceful: bool, args: argparse.Namespace, url: str) -> Summary:
    _, function = SCENARIOS[name]
    seed = time.monotonic_ns() % 1_000_000  # tokens unique across rows: one database
    load = Load("127.0.0.1", 0, clients=args.clients, seed=seed)
    servers: list[ServerProcess] = []
    try:
        servers = await function(Setup(graceful, url, args.clients), load)
    finally:
        load.stop()
        await load.finished()
        for server in servers:
            server.kill()
    prefix = f"d{seed}-"
    return summarize(load, [t for t in stored_tokens(url) if t.startswith(prefix)])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--only", nargs="*", default=None, help="scenario names containing this")
    parser.add_argument("--problems", action="store_true", help="name what each client saw wrong")
    args = parser.parse_args(argv)
    try:  # registers the proxies' rows, where that module is present
        importlib.import_module("benchmarks.deploy_proxies")
    except ModuleNotFoundError:
        pass
    from tests.database import ensure_database_url

    ensure_database_url()
    url = bench_database(os.environ["DATABASE_URL"])
    names = [n for n in SCENARIOS if not args.only or any(o in n for o in args.only)]
    print("| deploy | setup | sent | non-2xx | connection errors | lost / doubled writes | p99 |")
    print("|---|---|---|---|---|---|---|")
    for name in names:
        for graceful in (False, True):
            try:
                summary = asyncio.run(measure(name, graceful, args, url))
            except (AssertionError, OSError) as error:  # a setup that could not run
                print(
                    f"| {name} | {'graceful_django' if graceful else 'plain'} | failed: "
                    f"{str(error).splitlines()[0][:80]} | | | | |"
                )
                continue
            setup = "graceful_django" if graceful else "plain"
            print(
                f"| {name} | {setup} | {summary.requests} | {summary.non_2xx} | "
                f"{summary.connection_errors} | {summary.lost_writes} / {summary.doubled_writes}"
                f" | {summary.p99_ms:.0f} ms |",
                flush=True,
            )
            if args.problems and summary.problems:
                print("    " + "; ".join(summary.problems))


if __name__ == "__main__":
    main()
