"""Requests/s of a trivial view with graceful_django on vs off, same server, same run.

    python -m benchmarks.middleware_overhead [--seconds 5] [--rounds 3] [--server daphne]

Rounds alternate off/on so that drift of the machine hits both sides alike; the ratio is
the median of on/off over the rounds. Goal: >= 0.97.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics

from .load import requests_per_second
from .process import free_port, start_server, stop

VARIANTS = {
    "off": ("benchmarks.asgi_plain:application", "benchmarks.settings_plain"),
    "on": ("project.asgi:application", "project.settings"),
}


def measure(variant: str, server: str, seconds: float, connections: int) -> float:
    app, settings = VARIANTS[variant]
    port = free_port()
    process = start_server(app, settings, port, server)
    try:
        # Warm up (imports, first connections), then measure.
        asyncio.run(requests_per_second("127.0.0.1", port, "/ping", 1.0, connections))
        return asyncio.run(requests_per_second("127.0.0.1", port, "/ping", seconds, connections))
    finally:
        stop(process)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--server", choices=["daphne", "uvicorn"], default="daphne")
    args = parser.parse_args(argv)
    ratios, on_rates, off_rates = [], [], []
    for round_number in range(1, args.rounds + 1):
        off = measure("off", args.server, args.seconds, args.connections)
        on = measure("on", args.server, args.seconds, args.connections)
        off_rates.append(off)
        on_rates.append(on)
        ratios.append(on / off)
        print(f"round {round_number}: off {off:.0f} req/s, on {on:.0f} req/s, ratio {on / off:.3f}")
    result = {
        "off_rps": statistics.median(off_rates),
        "on_rps": statistics.median(on_rates),
        "ratio": statistics.median(ratios),
    }
    print(
        f"middleware overhead ({args.server}): median off {result['off_rps']:.0f} req/s, "
        f"on {result['on_rps']:.0f} req/s, ratio on/off {result['ratio']:.3f} (goal >= 0.97)"
    )
    return result


if __name__ == "__main__":
    main()
