"""Load during a deploy, as users see it: keep-alive clients that go on through the deploy.

Each client sends one request at a time on a kept-alive connection: GETs of `/ping`, and
GETs and POSTs of a short async view that writes a row with a unique token (the demo's own
view, so that a plain server without the test app runs the same load). Unlike
tests/loadkill.py it does not stop at the first `Connection: close` or refused connection:
it reconnects, as a browser or a proxy does, until told to stop. Every request sent is
recorded with what the client saw: a status, or the connection error in its place
(refused, reset, EOF where a response was due). The writes are then checked in the
database: an acknowledged write must be stored exactly once.

Used by tests/test_deploys.py, tests/test_proxies.py and benchmarks/deploy_table.py.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from tests.loadkill import read_response
from tests.rawhttp import head

# kind -> (method, path with {token}); "async" and "post" write a row (project/demo/views.py).
ACTIONS = {
    "ping": ("GET", "/ping"),
    "async": ("GET", "/slow/async?seconds=0.05&token={token}"),
    "post": ("POST", "/slow/async?seconds=0.02&token={token}"),
}
WRITING = ("async", "post")
WEIGHTS = {"ping": 5, "async": 2, "post": 3}
# A bound on any one exchange: a client never waits longer for anything.
EXCHANGE_TIMEOUT = 20.0


@dataclass
class Sent:
    kind: str
    token: str
    at: float
    outcome: str = "pending"  # "200", "503", ... or "error: why"
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.outcome.startswith("2")

    @property
    def failed_to_connect(self) -> bool:
        return self.outcome.startswith("error: connect")


@dataclass
class Load:
    host: str
    port: int
    clients: int = 20
    seed: int = 0
    sent: list[Sent] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _running: asyncio.Task[None] | None = None

    def start(self, seconds: float = 120.0) -> None:
        """`run()` in the background, at most `seconds`; `stop()`, then `finished()`."""
        self._running = asyncio.create_task(self.run(seconds=seconds))

    async def finished(self) -> None:
        if self._running is not None:
            await self._running

    async def answered(self, count: int) -> None:
        """Until the clients have had `count` answers (or the load ended)."""
        while sum(s.ok for s in self.sent) < count and not self._stop.is_set():
            await asyncio.sleep(0.05)  # pacing the check of a counter the clients keep

    async def answered_more(self, count: int) -> None:
        await self.answered(sum(s.ok for s in self.sent) + count)

    async def run(self, until: asyncio.Event | None = None, seconds: float = 60.0) -> None:
        """The clients, until `until` is set (or `stop()`), at most `seconds`."""
        tasks = [asyncio.create_task(self._client(n)) for n in range(self.clients)]
        waits = [asyncio.create_task(self._stop.wait())]
        if until is not None:
            waits.append(asyncio.create_task(until.wait()))
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        self._stop.set()
        for wait in waits:
            wait.cancel()
        await asyncio.wait_for(asyncio.gather(*tasks), EXCHANGE_TIMEOUT + 5)

    def stop(self) -> None:
        self._stop.set()

    async def _client(self, number: int) -> None:
        rng = random.Random(f"{self.seed}-{number}")
        index = 0
        while not self._stop.is_set():
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port), EXCHANGE_TIMEOUT
                )
            except (OSError, TimeoutError) as error:
                # Nothing was sent, but a user talking to this address sees an error.
                self.sent.append(Sent("connect", "", time.monotonic(), _error("connect", error)))
                await asyncio.sleep(0.02)  # pacing a reconnecting client, not a wait
                continue
            try:
                while not self._stop.is_set():
                    index += 1
                    kind = rng.choices(list(WEIGHTS), list(WEIGHTS.values()))[0]
                    sent = Sent(kind, f"d{self.seed}-{number}-{index}", time.monotonic())
                    method, path = ACTIONS[kind]
                    self.sent.append(sent)
                    try:
                        writer.write(head(method, path.format(token=sent.token), 0))
                        status, closes = await asyncio.wait_for(
                            read_response(reader), EXCHANGE_TIMEOUT
                        )
                    except (OSError, asyncio.IncompleteReadError, EOFError, TimeoutError) as error:
                        sent.outcome = _error("response", error)
                        break
                    finally:
                        sent.seconds = time.monotonic() - sent.at
                    sent.outcome = str(status)
                    if closes:
                        break
            finally:
                writer.close()


def _error(stage: str, error: BaseException) -> str:
    return f"error: {stage} {type(error).__name__}"


@dataclass
class Summary:
    requests: int
    non_2xx: int
    connection_errors: int
    acknowledged_writes: int
    lost_writes: int
    doubled_writes: int
    p99_ms: float
    problems: list[str]

    @property
    def clean(self) -> bool:
        return not (self.non_2xx or self.connection_errors or self.lost_writes)

    def row(self) -> str:
        return (
            f"{self.requests} sent, {self.non_2xx} non-2xx, {self.connection_errors} connection "
            f"errors, {self.lost_writes} lost / {self.doubled_writes} doubled writes "
            f"(of {self.acknowledged_writes}), p99 {self.p99_ms:.0f} ms"
        )


def summarize(load: Load, stored_tokens: Iterable[str]) -> Summary:
    """What the clients saw, and the writes against `stored_tokens` (one per stored row)."""
    stored = Counter(stored_tokens)
    requests = [s for s in load.sent if s.kind != "connect"]
    errors = [s for s in load.sent if s.outcome.startswith("error")]
    non_2xx = [s for s in requests if not s.ok and not s.outcome.startswith("error")]
    acknowledged = [s.token for s in requests if s.kind in WRITING and s.ok]
    lost = [token for token in acknowledged if stored[token] == 0]
    doubled = [token for token, count in stored.items() if count > 1]
    latencies = sorted(s.seconds for s in requests if s.outcome != "pending")
    p99 = latencies[int(0.99 * (len(latencies) - 1))] * 1000 if latencies else 0.0
    problems = [f"{s.kind} {s.token}: {s.outcome}" for s in [*non_2xx, *errors][:20]]
    return Summary(
        requests=len(requests),
        non_2xx=len(non_2xx),
        connection_errors=len(errors),
        acknowledged_writes=len(acknowledged),
        lost_writes=len(lost),
        doubled_writes=len(doubled),
        p99_ms=p99,
        problems=problems,
    )
