"""Requests/s of a trivial view with graceful_django on vs off, same server, same run.

    python -m benchmarks.middleware_overhead [--seconds 4] [--rounds 7] [--server daphne]
                                             [--path /ping-async]

Rounds alternate off/on so that drift of the machine hits both sides alike, and client and
server are pinned to their own cores. Two ratios (median of on/off over the rounds):
- wall: requests per second of wall-clock time, as a user sees it;
- cpu: requests per second of the server's CPU time, which other load on a shared machine
  disturbs far less (the wall figures of one side can move 20% between rounds here).
Goal: >= 0.97.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess

from .load import requests_per_second
from .process import free_port, pin_client, start_server, stop

VARIANTS = {
    "off": ("benchmarks.asgi_plain:application", "benchmarks.settings_plain"),
    "on": ("project.asgi:application", "project.settings"),
}


def cpu_seconds(process: subprocess.Popen[bytes]) -> float:
    """User + system CPU time of the server process, all threads, from /proc."""
    with open(f"/proc/{process.pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    variant: str, server: str, path: str, seconds: float, connections: int
) -> tuple[float, float]:
    """(requests per wall second, requests per server CPU second)."""
    app, settings = VARIANTS[variant]
    port = free_port()
    process = start_server(app, settings, port, server)
    try:
        # Warm up (imports, first connections), then measure.
        asyncio.run(requests_per_second("127.0.0.1", port, path, 1.0, connections))
        cpu_before = cpu_seconds(process)
        rate = asyncio.run(requests_per_second("127.0.0.1", port, path, seconds, connections))
        cpu = cpu_seconds(process) - cpu_before
        return rate, rate * seconds / cpu
    finally:
        stop(process)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--server", choices=["daphne", "uvicorn"], default="daphne")
    parser.add_argument(
        "--path", default="/ping-async", help="/ping-async (async view) or /ping (sync view)"
    )
    args = parser.parse_args(argv)
    pin_client()
    wall_ratios, cpu_ratios, off_rates, on_rates = [], [], [], []
    for round_number in range(1, args.rounds + 1):
        off, off_cpu = measure("off", args.server, args.path, args.seconds, args.connections)
        on, on_cpu = measure("on", args.server, args.path, args.seconds, args.connections)
        off_rates.append(off)
        on_rates.append(on)
        wall_ratios.append(on / off)
        cpu_ratios.append(on_cpu / off_cpu)
        print(
            f"round {round_number}: off {off:.0f} req/s ({off_cpu:.0f}/cpu-s), "
            f"on {on:.0f} req/s ({on_cpu:.0f}/cpu-s), wall {on / off:.3f}, "
            f"cpu {on_cpu / off_cpu:.3f}"
        )
    result = {
        "off_rps": statistics.median(off_rates),
        "on_rps": statistics.median(on_rates),
        "wall_ratio": statistics.median(wall_ratios),
        "cpu_ratio": statistics.median(cpu_ratios),
    }
    print(
        f"middleware overhead ({args.server}, {args.path}): median off {result['off_rps']:.0f} "
        f"req/s, on {result['on_rps']:.0f} req/s; ratio on/off: wall {result['wall_ratio']:.3f}, "
        f"cpu {result['cpu_ratio']:.3f} (goal >= 0.97)"
    )
    return result


if __name__ == "__main__":
    main()
