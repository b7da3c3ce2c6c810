"""The whole suite, as `make test` runs it: `python -m tests.run_suite [pytest arguments]`.

Two parts. Most files run on up to two workers at once (pytest-xdist, a file per worker:
module fixtures and the fleet's one channel-layer group stay in one process). The files
marked `serial` then run alone: they put a deploy under load (SIGHUP reloads, rolling
restarts behind a proxy, load-and-kill rounds) and count every error at the client, and
their load must not be starved of CPU by another test's servers. A client starved past the
idle grace before its next request meets the close of its idle connection, a race no
server can win (see `IDLE_GRACE` in graceful_django/servers/base.py).

Both parts run whatever the first gives; the exit status is the first failure's.
"""

from __future__ import annotations

import subprocess
import sys

PARTS = (
    ["-n", "auto", "--maxprocesses", "2", "--dist", "loadfile", "-m", "not serial"],
    ["-m", "serial"],
)
NO_TESTS_COLLECTED = 5  # pytest's status when arguments select nothing in a part


def main(arguments: list[str]) -> int:
    codes = [subprocess.call([sys.executable, "-m", "pytest", *part, *arguments]) for part in PARTS]
    failures = [code for code in codes if code not in (0, NO_TESTS_COLLECTED)]
    if failures:
        return failures[0]
    return NO_TESTS_COLLECTED if all(code == NO_TESTS_COLLECTED for code in codes) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
