"""Issue 10: load and SIGTERM at a random moment, under daphne and uvicorn; nothing may be lost.

50 keep-alive HTTP clients (tests/loadkill.py) and 100 websockets against a real server on
the real PostgreSQL; SIGTERM lands at a random moment. Every request sent gets an answer
(200 or 503), every acknowledged write is stored, no refused request wrote anything, every
websocket gets the configured close frame with a completed closing handshake, the process
exits 0 with none of its database backends left.

Two rounds per server by default (suite time); `LOAD_KILL_ROUNDS=20` runs twenty by hand,
and `-s` prints each round's numbers.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter

import pytest

from graceful_django.conf import DEFAULT_WS_CLOSE_CODE
from project.demo.models import Write
from tests.loadkill import ACTIONS, run_round

# Under load, every client error counted: run alone (tests/run_suite.py).
pytestmark = pytest.mark.serial

SERVERS = ["daphne", "uvicorn"]
ROUNDS = int(os.environ.get("LOAD_KILL_ROUNDS", "2"))
CLIENTS = int(os.environ.get("LOAD_KILL_CLIENTS", "50"))
WEBSOCKETS = int(os.environ.get("LOAD_KILL_WEBSOCKETS", "100"))


@pytest.mark.timeout(60 + 30 * ROUNDS)
@pytest.mark.parametrize("kind", SERVERS)
def test_nothing_lost_under_load_and_sigterm(server_factory, kind):
    totals: Counter[str] = Counter()
    failures: list[str] = []
    outputs = ""
    for number in range(ROUNDS):
        name = f"graceful-load-{kind}-{number}-{time.monotonic_ns()}"
        server = server_factory(
            kind,
            app="tests.asgi:application",
            env={
                "CONN_MAX_AGE": "0",
                "DATABASE_APPLICATION_NAME": name,
                "REPORT_BACKENDS_OF": name,
                "GRACEFUL_TIMEOUT": "20",
            },
        )
        result = asyncio.run(run_round(server, CLIENTS, WEBSOCKETS, seed=number))
        code = server.wait_exit(30)
        stored = set(Write.objects.values_list("token", flat=True))
        writes = [s for s in result.sent if ACTIONS[s.kind][2] is not None]
        lost = [s for s in writes if s.outcome == "200" and s.token not in stored]
        refused_but_stored = [s for s in writes if s.outcome != "200" and s.token in stored]
        unclean = [c for c in result.ws_closes if c != (DEFAULT_WS_CLOSE_CODE, True)]
        outcomes = Counter(s.outcome for s in result.sent)
        print(
            f"\n{kind} round {number}: {len(result.sent)} sent {dict(outcomes)},"
            f" dropped {len(result.dropped)}, errors {len(result.errors)}, lost writes {len(lost)},"
            f" stored after error {len(refused_but_stored)},"
            f" websockets {len(result.ws_closes)} unclean {len(unclean)}, exit {code}"
        )
        totals.update(
            sent=len(result.sent),
            dropped=len(result.dropped),
            errors=len(result.errors),
            unclean=len(unclean),
        )
        failures += [
            f"round {number}: {problem}"
            for problem in (
                *(f"dropped {sent}" for sent in result.dropped),
                *(f"server error (see the log) {sent}" for sent in result.errors),
                *(f"acknowledged write not stored {sent}" for sent in lost),
                *(
                    f"write stored but the client saw {sent.outcome}: {sent}"
                    for sent in refused_but_stored
                ),
                *(
                    [f"websockets {Counter(result.ws_closes)}"]
                    if unclean or len(result.ws_closes) != WEBSOCKETS
                    else []
                ),
                *([f"exit {code}"] if code != 0 else []),
                *(["database backends left"] if "BACKENDS_AT_EXIT=0" not in server.output else []),
            )
        ]
        if failures and not outputs:
            outputs = server.output
        Write.objects.all().delete()
    print(f"\n{kind}: {ROUNDS} rounds {dict(totals)}")
    assert not failures, "\n".join(failures) + "\nfirst failing round's server log:\n" + outputs
