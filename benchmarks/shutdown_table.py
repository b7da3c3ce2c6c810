"""One scenario against every setup, one table: what a user sees when the server is stopped.

    python -m benchmarks.shutdown_table [--rounds 5] [--clients 50] [--websockets 100]

For each server (daphne, uvicorn, hypercorn, granian, gunicorn with two uvicorn workers), plain
and with graceful_django, in the same run: keep-alive
clients mix fast GETs, slow sync and async views that write a row, POSTs that write a row and
a streaming view, while websockets stay open; SIGTERM comes at a random moment. Per setup:

- dropped: requests that were sent and got no response at all (EOF or reset); a client that
  gets a 503 stops, as a load balancer would send it elsewhere;
- doubled: writes stored although their client saw an error (it will retry);
- lost: writes whose client got 200 but that are not in the database;
- ws clean: websockets that got a close frame and finished the closing handshake (and codes);
- exit: SIGTERM to exit, and last response to exit (medians);
- page ratio: requests/s of a realistic page (session, ORM query, template), app on / off.

Needs a PostgreSQL: DATABASE_URL, or the embedded one the tests use.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import random
import signal
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from .load import requests_per_second
from .process import ROOT, free_port, pin_client, start_server, stop
from .websocket_close import raise_fd_limit

# The same site without graceful_django: no wrapper, no middleware.
PLAIN = ("benchmarks.websocket_asgi_plain:application", "benchmarks.settings_plain", "/ws/echo/")
GRACEFUL = ("tests.asgi:application", "tests.settings", "/ws/test/graceful-echo/")
# tests/servers.py kinds: gunicorn runs two uvicorn workers.
SERVERS = ("daphne", "uvicorn", "hypercorn", "granian", "gunicorn")
# name: (server, (ASGI app, settings, websocket path))
SETUPS = {
    name: (server, variant)
    for server in SERVERS
    for name, variant in ((f"plain {server}", PLAIN), (f"{server} + graceful_django", GRACEFUL))
}
WRITES = ("sync", "async", "post", "stream")
BENCH_DATABASE = "graceful_bench"


@dataclass
class Sent:
    kind: str
    token: str
    status: int | None = None
    error: str | None = None
    at: float = 0.0


@dataclass
class Round:
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    sent: list[Sent] = field(default_factory=list)
    ws: collections.Counter[str] = field(default_factory=collections.Counter)
    exit_code: int | None = None
    signal_to_exit: float = float("nan")
    last_response_to_exit: float = float("nan")
    stored: set[str] = field(default_factory=set)


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """The status of one HTTP/1.1 response, read to its end; and whether the server closes."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {
        k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)
    }
    if headers.get("transfer-encoding") == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    return status, headers.get("connection", "").lower() == "close"


def request_for(kind: str, token: str) -> bytes:
    paths = {
        "fast": "/ping",
        "sync": f"/slow/sync?seconds=0.3&token={token}",
        "async": f"/slow/async?seconds=0.3&token={token}",
        "post": f"/slow/async?seconds=0.2&token={token}",
        "stream": f"/stream?seconds=0.4&chunks=4&token={token}",
    }
    method, body = ("POST", b"x=1") if kind == "post" else ("GET", b"")
    return (
        f"{method} {paths[kind]} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def http_client(port: int, index: int, run: Round, stop: asyncio.Event) -> None:
    rng = random.Random(index)
    # Unique in the whole run: the table's rows share one database.
    prefix = f"{run.id}-{index}"
    counter = 0
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return  # the listener is closed: nothing was sent
        try:
            while not stop.is_set():
                kind = rng.choices(["fast", *WRITES], weights=[6, 1, 1, 1, 1])[0]
                counter += 1
                sent = Sent(kind, f"{prefix}-{counter}")
                run.sent.append(sent)
                writer.write(request_for(kind, sent.token))
                try:
                    sent.status, closing = await asyncio.wait_for(read_response(reader), 30)
                except (asyncio.IncompleteReadError, ConnectionError, TimeoutError) as error:
                    sent.error = type(error).__name__
                    break
                sent.at = time.monotonic()
                if sent.status == 503:
                    return  # refused: a load balancer would send this client elsewhere now
                if closing:
                    break
        finally:
            writer.close()


async def websocket_client(port: int, path: str, run: Round, opened: asyncio.Queue[bool]) -> None:
    try:
        ws: ClientConnection = await connect(f"ws://127.0.0.1:{port}{path}", open_timeout=20)
    except Exception:
        run.ws["not opened"] += 1
        opened.put_nowait(False)
        return
    opened.put_nowait(True)
    try:
        async for _ in ws:
            pass
    except ConnectionClosed:
        pass
    frame, reply = ws.protocol.close_rcvd, ws.protocol.close_sent
    if frame is None:
        run.ws["no close frame (1006)"] += 1
    elif reply is not None and ws.protocol.close_rcvd_then_sent:
        run.ws[f"clean {frame.code}"] += 1
    else:
        run.ws[f"unfinished {frame.code}"] += 1


def stored_tokens(database_url: str) -> set[str]:
    import psycopg

    with psycopg.connect(database_url) as connection:
        rows = connection.execute("SELECT token FROM demo_write").fetchall()
    return {row[0] for row in rows}


async def one_round(setup: str, args: argparse.Namespace, database_url: str) -> Round:
    server, (app, settings, ws_path) = SETUPS[setup]
    port = free_port()
    # CONN_MAX_AGE 0, Django's default: under ASGI each request has a thread of its own, and
    # kept connections would exhaust a shared PostgreSQL's max_connections under this load.
    env = {"DATABASE_URL": database_url, "GRACEFUL_TIMEOUT": "10", "CONN_MAX_AGE": "0"}
    process = start_server(app, settings, port, server, env=env)
    run = Round()
    over = asyncio.Event()
    opened: asyncio.Queue[bool] = asyncio.Queue()
    sockets = [
        asyncio.ensure_future(websocket_client(port, ws_path, run, opened))
        for _ in range(args.websockets)
    ]
    for _ in sockets:  # every handshake done (or failed) before the load starts
        await opened.get()
    clients = [asyncio.ensure_future(http_client(port, i, run, over)) for i in range(args.clients)]
    await asyncio.sleep(random.uniform(0.4, 1.0))  # the load runs; SIGTERM comes at random
    process.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    loop = asyncio.get_running_loop()
    try:
        run.exit_code = await loop.run_in_executor(None, process.wait, 30)
        exited = time.monotonic()
    finally:
        stop(process)  # workers left behind by a master that did not stop them
    over.set()
    await asyncio.wait([*clients, *sockets], timeout=10)
    run.signal_to_exit = exited - signalled
    answered = [sent.at for sent in run.sent if sent.status is not None]
    if answered:
        run.last_response_to_exit = exited - max(answered)
    run.stored = stored_tokens(database_url)
    return run


def page_ratio(args: argparse.Namespace, server: str, database_url: str) -> float:
    """requests/s of /page with graceful_django over without, alternating rounds."""
    env = {"DATABASE_URL": database_url, "CONN_MAX_AGE": "0"}
    results: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(args.page_rounds):
        for on in (True, False):
            app, settings, _ = GRACEFUL if on else PLAIN
            port = free_port()
            process = start_server(app, settings, port, server, env=env)
            try:
                asyncio.run(requests_per_second("127.0.0.1", port, "/page", 0.5, 4))  # warm up
                rate = asyncio.run(
                    requests_per_second("127.0.0.1", port, "/page", args.page_seconds, 8)
                )
                results[on].append(rate)
            finally:
                stop(process)
    return statistics.median(results[True]) / statistics.median(results[False])


def bench_database(url: str) -> str:
    """A database of the benchmark's own on the same server, created once, then migrated."""
    import psycopg

    parsed = urlsplit(url)
    with psycopg.connect(url, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DATABASE]
        ).fetchone()
        if not exists:
            connection.execute(f"CREATE DATABASE {BENCH_DATABASE}")
    bench_url = urlunsplit(parsed._replace(path=f"/{BENCH_DATABASE}"))
    migrate(bench_url)
    return bench_url


def migrate(database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "project.settings"}
    command = [sys.executable, "manage.py", "migrate", "--verbosity", "0"]
    subprocess.run(command, cwd=ROOT, env=env, check=True)


def summarize(setup: str, rounds: list[Round], ratio: float | None) -> str:
    sent = [s for run in rounds for s in run.sent]
    dropped = sum(1 for s in sent if s.error is not None)
    writes = [(s, run) for run in rounds for s in run.sent if s.kind in WRITES]
    doubled = sum(1 for s, run in writes if s.status != 200 and s.token in run.stored)
    lost = sum(1 for s, run in writes if s.status == 200 and s.token not in run.stored)
    ws: collections.Counter[str] = sum((run.ws for run in rounds), collections.Counter())
    total_ws = sum(ws.values())
    clean = sum(count for name, count in ws.items() if name.startswith("clean"))
    codes = ", ".join(f"{name}: {count}" for name, count in sorted(ws.items()))
    exits = collections.Counter(run.exit_code for run in rounds)
    to_exit = statistics.median(run.signal_to_exit for run in rounds) * 1000
    finite = [
        r.last_response_to_exit
        for r in rounds
        if r.last_response_to_exit == r.last_response_to_exit
    ]
    last = statistics.median(finite) * 1000 if finite else float("nan")
    page = f"{ratio:.3f}" if ratio is not None else "-"
    return (
        f"| {setup} | {len(sent)} | {dropped} | {doubled} | {lost} | {clean}/{total_ws} ({codes}) "
        f"| {dict(exits)} | {to_exit:.0f} | {last:.0f} | {page} |"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--websockets", type=int, default=100)
    parser.add_argument("--page-rounds", type=int, default=3)
    parser.add_argument("--page-seconds", type=float, default=3.0)
    parser.add_argument("--setups", default=",".join(SETUPS), help="comma-separated names")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from tests.database import ensure_database_url

    database_url = bench_database(ensure_database_url())
    pin_client()
    raise_fd_limit(args.clients + args.websockets)
    print(
        "| setup | requests sent | dropped | doubled writes | lost writes | websockets clean "
        "| exit codes | SIGTERM to exit (ms) | last response to exit (ms) | page on/off |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    ratios: dict[str, float] = {}
    for setup in [name.strip() for name in args.setups.split(",")]:
        rounds = [asyncio.run(one_round(setup, args, database_url)) for _ in range(args.rounds)]
        server = SETUPS[setup][0]
        ratio = None
        if "graceful" in setup and args.page_rounds:
            ratio = ratios.setdefault(server, page_ratio(args, server, database_url))
        print(summarize(setup, rounds, ratio), flush=True)


if __name__ == "__main__":
    main()
