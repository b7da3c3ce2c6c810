"""Closing 1,000 open websockets at SIGTERM, and what the registry costs per socket.

    python -m benchmarks.websocket_close [--clients 1000] [--server daphne]

For each setup: open N clients, read the server's RSS (/proc/<pid>/status), send SIGTERM,
and time until the last client has its close frame. Setups:

- graceful consumer: GracefulAsyncWebsocketConsumer under the GracefulShutdown wrapper;
- plain consumer: the demo's EchoConsumer (no mixin) under the wrapper, closed by it;
- no graceful_django: the same EchoConsumer without the wrapper (baseline; daphne then
  drops the sockets without a close frame, the clients see 1006).

"memory per socket" is (RSS with N clients open - RSS before) / N; the registry's cost is
its difference from the baseline. Goal: the last close frame < 1 s after SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import IO

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from .process import ROOT, free_port, wait_listening

SETUPS = {
    "graceful consumer": ("tests.asgi:application", "ws/test/graceful-echo/"),
    "plain consumer, wrapper only": ("tests.asgi:application", "ws/echo/"),
    "no graceful_django (baseline)": ("benchmarks.websocket_asgi_plain:application", "ws/echo/"),
}
SETTINGS = "project.settings"  # the echo consumers touch no database
WARM_UP = 20


@dataclass
class Run:
    setup: str
    rss_before_kib: int
    rss_open_kib: int
    hwm_kib: int
    last_close_s: float
    codes: collections.Counter[int | None]
    exit_code: int | None
    close_step: tuple[float | None, int]

    def per_socket_bytes(self, clients: int) -> float:
        return (self.rss_open_kib - self.rss_before_kib) * 1024 / clients


def raise_fd_limit(clients: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 2 * clients + 256  # both ends of each socket live on this machine
    if soft < wanted:
        ceiling = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))


def memory_kib(pid: int) -> dict[str, int]:
    values = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0])
    return values


class StampedConnection(ClientConnection):
    """Notes when the close frame arrives (the connection ends a round trip later)."""

    close_frame_at: float | None = None

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.close_frame_at is None and self.protocol.close_rcvd is not None:
            self.close_frame_at = time.monotonic()


async def open_clients(url: str, count: int) -> list[StampedConnection]:
    gate = asyncio.Semaphore(50)  # daphne listens with a backlog of 50

    async def one() -> StampedConnection:
        async with gate:
            ws = await connect(
                url, open_timeout=30, ping_interval=None, create_connection=StampedConnection
            )
        assert isinstance(ws, StampedConnection)
        return ws

    return await asyncio.gather(*(one() for _ in range(count)))


async def until_closed(ws: StampedConnection) -> tuple[float, int | None]:
    """When the close frame came (or the connection ended without one), and its code."""
    try:
        async for _ in ws:
            pass
    except ConnectionClosed:
        pass
    frame = ws.protocol.close_rcvd
    if frame is None or ws.close_frame_at is None:
        return time.monotonic(), None
    return ws.close_frame_at, frame.code


async def settle(pid: int) -> dict[str, int]:
    # Let the server finish the last handshakes' bookkeeping before reading its memory.
    await asyncio.sleep(0.5)
    return memory_kib(pid)


def launch(app: str, server: str, port: int, log: IO[bytes]) -> subprocess.Popen[bytes]:
    if server == "daphne":
        command = ["-m", "daphne", "-b", "127.0.0.1", "-p", str(port), app]
    else:
        command = ["-m", "uvicorn", app, "--port", str(port), "--log-level", "warning"]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": SETTINGS, "GRACEFUL_TIMEOUT": "10"}
    process = subprocess.Popen(
        [sys.executable, *command], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    wait_listening(port)
    return process


def close_step(log: IO[bytes]) -> tuple[float | None, int]:
    """The "close websockets" step as the server logged it (until every disconnect ran),
    and how many consumers it had to force."""
    log.seek(0)
    text = log.read()
    found = re.search(rb"close websockets (\d+)ms", text)
    forced = re.search(rb"force-closed (\d+) websockets", text)
    return (int(found.group(1)) / 1000 if found else None), int(forced.group(1)) if forced else 0


async def one_run(setup: str, server: str, clients: int) -> Run:
    app, route = SETUPS[setup]
    port = free_port()
    log = tempfile.TemporaryFile()
    process = launch(app, server, port, log)
    url = f"ws://127.0.0.1:{port}/{route}"
    try:
        for ws in await open_clients(url, WARM_UP):
            await ws.close()
        before = await settle(process.pid)
        sockets = await open_clients(url, clients)
        readers = [asyncio.create_task(until_closed(ws)) for ws in sockets]
        opened = await settle(process.pid)
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        results = await asyncio.wait_for(asyncio.gather(*readers), 30)
        exit_code = await asyncio.to_thread(process.wait, 15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return Run(
        setup=setup,
        rss_before_kib=before["VmRSS"],
        rss_open_kib=opened["VmRSS"],
        hwm_kib=opened["VmHWM"],
        last_close_s=max(at for at, _ in results) - sent,
        codes=collections.Counter(code for _, code in results),
        exit_code=exit_code,
        close_step=close_step(log),
    )


def describe(run: Run, clients: int, baseline: Run | None) -> str:
    codes = ", ".join(
        f"{'no close frame (1006)' if code is None else code} x{count}"
        for code, count in sorted(run.codes.items(), key=lambda item: str(item[0]))
    )
    added = ""
    if baseline is not None and baseline is not run:
        delta = run.per_socket_bytes(clients) - baseline.per_socket_bytes(clients)
        added = f", {delta / 1024:+.1f} KiB/socket vs baseline"
    step = ""
    seconds, forced = run.close_step
    if seconds is not None:
        step = f"; close step {seconds * 1000:.0f} ms" + (f" ({forced} forced)" if forced else "")
    return (
        f"{run.setup:32s} last close frame {run.last_close_s * 1000:6.0f} ms after SIGTERM; "
        f"RSS {run.rss_before_kib / 1024:.1f} -> {run.rss_open_kib / 1024:.1f} MiB "
        f"(peak {run.hwm_kib / 1024:.1f} MiB), "
        f"{run.per_socket_bytes(clients) / 1024:.1f} KiB/socket"
        f"{added}; exit {run.exit_code}; {codes}{step}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--server", choices=["daphne", "uvicorn"], default="daphne")
    args = parser.parse_args(argv)
    raise_fd_limit(args.clients)
    print(f"{args.clients} websocket clients under {args.server}, {os.cpu_count()} CPUs")
    runs = [asyncio.run(one_run(setup, args.server, args.clients)) for setup in SETUPS]
    baseline = runs[-1]
    for run in runs:
        print(describe(run, args.clients, baseline))


if __name__ == "__main__":
    try:
        main()
    except subprocess.TimeoutExpired as error:
        raise SystemExit(f"server did not exit: {error}") from error
