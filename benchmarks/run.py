"""All benchmarks, one after the other: `python -m benchmarks.run` (or `make bench`)."""

from __future__ import annotations

import importlib

MODULES = [
    "shutdown_table",
    "per_request_cost",
    "middleware_overhead",
    "exit_latency",
    "websocket_close",
]


def main() -> None:
    for name in MODULES:
        print(f"== {name}")
        try:
            module = importlib.import_module(f"benchmarks.{name}")
        except ImportError as error:
            print(f"skipped: {error}")
            continue
        module.main([])


if __name__ == "__main__":
    main()
