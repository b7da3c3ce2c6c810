"""Closing 1,000 to 10,000 open websockets at SIGTERM: how the cost scales, what a socket costs.

    python -m benchmarks.websocket_close [--clients 1000,5000,10000] [--servers daphne,uvicorn]
                                         [--layers memory,redis] [--setups graceful,plain,baseline]

For each server, channel layer, setup and size: open N clients (a lean asyncio client,
`ws_client`, pinned to one core, the server to the other), read the server's RSS
(/proc/<pid>/status), send SIGTERM, and note when each client got its close frame, when
every consumer's `disconnect` had run, the server's "close websockets" step, and the exit
status. Setups:

- graceful: GracefulAsyncWebsocketConsumer under the GracefulShutdown wrapper;
- plain: the demo's EchoConsumer (no mixin) under the wrapper, closed by it;
- baseline: the same EchoConsumer without graceful_django (the server then drops the
  sockets without a close frame: the clients see 1006).

"every disconnect ran" is from SIGTERM to the server's log line saying that every
websocket application had returned; "close step" ends once every closing handshake did
(the clients answered, TCP ended). "per 1,000" is the close step divided by N/1,000: flat
when the cost is linear. "memory per socket" is (RSS with N clients open - RSS before) / N,
and the registry's overhead its difference from the baseline at the same N. Goals at
10,000 sockets: every close frame within 1 s of SIGTERM, every disconnect within 2 s,
exit 0; per 1,000 at 10,000 <= 1.2 x per 1,000 at 1,000; overhead <= 2 KiB per socket;
Redis within 1.5 x in-memory.
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

from .process import ROOT, SERVER_CPU, free_port, pin_client, wait_listening
from .ws_client import open_lean

SETUPS = {
    "graceful": ("tests.asgi:application", "/ws/test/graceful-echo/"),
    "plain": ("tests.asgi:application", "/ws/echo/"),
    "baseline": ("benchmarks.websocket_asgi_plain:application", "/ws/echo/"),
}
LAYERS = {"memory": "", "redis": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")}
SETTINGS = "project.settings"  # the echo consumers touch no database
WARM_UP = 20


@dataclass
class Run:
    server: str
    layer: str
    setup: str
    clients: int
    rss_before_kib: int
    rss_open_kib: int
    last_close_s: float | None
    codes: collections.Counter[int | None]
    exit_code: int | None
    close_step_s: float | None
    forced: int
    disconnects_s: float | None = None

    def per_socket_bytes(self) -> float:
        return (self.rss_open_kib - self.rss_before_kib) * 1024 / self.clients

    def per_thousand_ms(self) -> float | None:
        if self.close_step_s is None:
            return None
        return self.close_step_s * 1000 / (self.clients / 1000)


def raise_fd_limit(clients: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = clients + 512
    if soft < wanted:
        ceiling = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def _server_preexec(clients: int) -> None:
    if len(os.sched_getaffinity(0)) > 1:
        os.sched_setaffinity(0, {SERVER_CPU})
    raise_fd_limit(clients)


def launch(
    app: str, server: str, layer: str, port: int, clients: int, log: IO[bytes]
) -> subprocess.Popen[bytes]:
    if server == "daphne":
        command = ["-m", "daphne", "-b", "127.0.0.1", "-p", str(port), app]
    else:
        command = ["-m", "uvicorn", app, "--port", str(port), "--log-level", "warning"]
        command += ["--backlog", "4096"]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": SETTINGS, "GRACEFUL_TIMEOUT": "10"}
    env.pop("REDIS_URL", None)
    if LAYERS[layer]:
        env["REDIS_URL"] = LAYERS[layer]
    process = subprocess.Popen(
        [sys.executable, *command],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=lambda: _server_preexec(clients),
    )
    wait_listening(port)
    return process


def close_step(log: IO[bytes]) -> tuple[float | None, int, str]:
    """The "close websockets" step as the server logged it (until every closing handshake
    ended), how many consumers it had to force, and the log."""
    log.seek(0)
    text = log.read()
    found = re.search(rb"close websockets (\d+)ms", text)
    forced = re.search(rb"force-closed (\d+) websockets", text)
    return (
        int(found.group(1)) / 1000 if found else None,
        int(forced.group(1)) if forced else 0,
        text.decode("utf-8", "replace"),
    )


def _logged_at(line: str) -> float:
    stamp = time.strptime(line[:19], "%Y-%m-%d %H:%M:%S")
    return time.mktime(stamp) + int(line[20:23]) / 1000


def disconnects_after_signal(text: str) -> float | None:
    """From the server's log: SIGTERM to the moment every application had returned (every
    consumer's `disconnect` ran), in seconds."""
    signalled = ended = None
    for line in text.splitlines():
        if signalled is None and "received SIGTERM" in line:
            signalled = _logged_at(line)
        elif "every websocket application ended" in line:
            ended = _logged_at(line)
    return None if signalled is None or ended is None else ended - signalled


async def one_run(server: str, layer: str, setup: str, clients: int) -> Run:
    app, route = SETUPS[setup]
    port = free_port()
    log = tempfile.TemporaryFile()
    process = launch(app, server, layer, port, clients, log)
    try:
        for client in await open_lean("127.0.0.1", port, route, WARM_UP):
            assert client.transport is not None
            client.transport.close()
        await asyncio.sleep(0.5)  # the server finishes the warm-up sockets' bookkeeping
        before = rss_kib(process.pid)
        sockets = await open_lean("127.0.0.1", port, route, clients)
        await asyncio.sleep(0.5)
        opened = rss_kib(process.pid)
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(asyncio.gather(*(s.closed for s in sockets)), 60)
        exit_code = await asyncio.to_thread(process.wait, 30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    seconds, forced, text = close_step(log)
    if os.environ.get("BENCH_LOG"):
        with open(os.environ["BENCH_LOG"], "a") as copy:
            copy.write(text)
    elif exit_code != 0 or "Traceback" in text:
        print(text[-3000:], file=sys.stderr)
    frames = [s.close_frame_at for s in sockets if s.close_frame_at is not None]
    return Run(
        server=server,
        layer=layer,
        setup=setup,
        clients=clients,
        rss_before_kib=before,
        rss_open_kib=opened,
        last_close_s=max(frames) - sent if frames else None,
        codes=collections.Counter(s.code for s in sockets),
        exit_code=exit_code,
        close_step_s=seconds,
        forced=forced,
        disconnects_s=disconnects_after_signal(text),
    )


def describe(run: Run, baseline: Run | None) -> str:
    codes = ", ".join(
        f"{'1006' if code is None else code} x{count}"
        for code, count in sorted(run.codes.items(), key=lambda item: str(item[0]))
    )
    last = "-" if run.last_close_s is None else f"{run.last_close_s * 1000:.0f} ms"
    step = "-" if run.close_step_s is None else f"{run.close_step_s * 1000:.0f} ms"
    ended = "-" if run.disconnects_s is None else f"{run.disconnects_s * 1000:.0f} ms"
    per = run.per_thousand_ms()
    overhead = ""
    if baseline is not None and baseline is not run:
        delta = run.per_socket_bytes() - baseline.per_socket_bytes()
        overhead = f" ({delta / 1024:+.2f} KiB vs baseline)"
    return (
        f"{run.server:7s} {run.layer:6s} {run.setup:8s} {run.clients:6d}: "
        f"last close frame {last:>8s}, every disconnect ran {ended:>8s}, close step {step:>8s}"
        f" = {'-' if per is None else f'{per:.0f}'} ms per 1,000; "
        f"{run.per_socket_bytes() / 1024:.2f} KiB/socket{overhead}; exit {run.exit_code}; "
        f"{codes}{f'; {run.forced} forced' if run.forced else ''}"
    )


def scaling(runs: list[Run]) -> str:
    """Per 1,000 at the largest size over per 1,000 at the smallest (1.0: linear)."""
    measured = [run for run in runs if run.per_thousand_ms() is not None]
    if len(measured) < 2:
        return ""
    small, large = measured[0], measured[-1]
    ratio = (large.per_thousand_ms() or 0) / (small.per_thousand_ms() or 1)
    steps = " -> ".join(f"{run.per_thousand_ms():.0f}" for run in measured)
    return (
        f"{small.server:7s} {small.layer:6s} {small.setup:8s} scaling: ms per 1,000 sockets "
        f"{steps} at {', '.join(str(run.clients) for run in measured)}; "
        f"{large.clients} vs {small.clients}: x{ratio:.2f} (goal <= 1.2)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--clients", default="1000,5000,10000")
    parser.add_argument("--servers", default="daphne,uvicorn")
    parser.add_argument("--layers", default="memory,redis")
    parser.add_argument("--setups", default="graceful,plain,baseline")
    args = parser.parse_args(argv)
    sizes = [int(n) for n in args.clients.split(",")]
    setups = args.setups.split(",")
    raise_fd_limit(max(sizes))
    pin_client()
    print(f"websocket close at {sizes} clients, {os.cpu_count()} CPUs (client and server pinned)")
    results: dict[tuple[str, str, str], list[Run]] = {}
    for server in args.servers.split(","):
        for layer in args.layers.split(","):
            for clients in sizes:
                baseline = None
                for setup in ["baseline", *(s for s in setups if s != "baseline")]:
                    run = asyncio.run(one_run(server, layer, setup, clients))
                    baseline = run if setup == "baseline" else baseline
                    results.setdefault((server, layer, setup), []).append(run)
                    print(describe(run, baseline), flush=True)
    print()
    for runs in results.values():
        line = scaling(runs)
        if line:
            print(line)
    for server in args.servers.split(","):
        if "redis" not in args.layers or "memory" not in args.layers:
            break
        memory = results.get((server, "memory", "graceful"), [])
        redis = results.get((server, "redis", "graceful"), [])
        for mem, red in zip(memory, redis, strict=False):
            ratios = [
                f"{name} x{r / m:.2f}"
                for name, m, r in [
                    ("last close frame", mem.last_close_s, red.last_close_s),
                    ("every disconnect ran", mem.disconnects_s, red.disconnects_s),
                    ("close step", mem.close_step_s, red.close_step_s),
                ]
                if m and r
            ]
            print(
                f"{server:7s} graceful {mem.clients:6d}: redis/memory {', '.join(ratios)}"
                " (goal <= 1.5)"
            )


if __name__ == "__main__":
    try:
        main()
    except subprocess.TimeoutExpired as error:
        raise SystemExit(f"server did not exit: {error}") from error
