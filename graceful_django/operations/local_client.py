"""`manage.py drain` on this host: find this project's server processes and drive them.

Each process is reached over its control socket (`control.py`). A drain sends `drain`
then `subscribe` and shows each pushed status until every process is drained (no longer
ready, refusing new work, no request in flight) or the timeout passes. `--shutdown` then
sends SIGTERM and waits for each process to exit: a pidfd tells when it is gone, or, where
there are no pidfds, the end of its control connection (the kernel closes it at exit).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..conf import DEFAULT_TIMEOUT
from .outcome import EXIT_NO_SERVER, EXIT_OK, EXIT_TIMEOUT, EXIT_USAGE, DrainError, Outcome
from .progress import ProgressView
from .runtime_state import find_records, remove_state
from .wording import plural

# Beyond a server's own GRACEFUL_TIMEOUT, for its exit to be seen.
EXIT_MARGIN = 5.0


def find_servers(directory: Path, project: str, pids: list[int]) -> list[dict[str, Any]]:
    """The records to act on; raises before anything is sent to any server."""
    records = find_records(directory, project)
    known = {int(record["pid"]) for record in records}
    unknown = [str(pid) for pid in pids if pid not in known]
    if unknown:
        raise DrainError(
            f"no running server of this project with pid {', '.join(unknown)} "
            f"(servers found in {directory}: {', '.join(map(str, sorted(known))) or 'none'}).",
            EXIT_USAGE,
        )
    if pids:
        records = [record for record in records if int(record["pid"]) in pids]
    if not records:
        raise DrainError(f"no running server of this project found in {directory}.", EXIT_NO_SERVER)
    return records


def _holding(status: dict[str, Any]) -> str:
    """What keeps a process from being drained: its pre-drain delay, or its requests."""
    requests = plural(int(status.get("requests") or 0), "request")
    if status.get("refusing_in"):
        return f"pre-drain delay, {status['refusing_in']:.1f}s left; {requests}"
    return requests


@dataclass(eq=False)
class Connection:
    record: dict[str, Any]
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    status: dict[str, Any] = field(default_factory=dict)
    closed: bool = False
    exited: bool = False
    pidfd: int | None = None

    @property
    def pid(self) -> int:
        return int(self.record["pid"])

    @property
    def key(self) -> str:
        return str(self.pid)

    def send(self, *requests: dict[str, Any]) -> None:
        self.writer.write(b"".join(json.dumps(request).encode() + b"\n" for request in requests))

    async def reply(self) -> dict[str, Any]:
        line = await self.reader.readline()
        if not line:
            raise ConnectionError(f"pid {self.pid} closed its control socket")
        message: dict[str, Any] = json.loads(line)
        if message.get("status"):
            self.status = message["status"]
        return message


class LocalDrain:
    def __init__(
        self,
        directory: Path,
        records: list[dict[str, Any]],
        view: ProgressView,
        *,
        delay: bool = True,
    ) -> None:
        self.directory = directory
        self.records = records
        self.view = view
        # A drain honours GRACEFUL_PRE_DRAIN_DELAY unless told not to (--no-delay).
        self.delay = delay
        self.connections: list[Connection] = []
        self.queue: asyncio.Queue[tuple[Connection, str]] = asyncio.Queue()
        # One reader per connection, pushing what it reads to the queue.
        self.followers: set[asyncio.Task[None]] = set()

    async def connect(self) -> None:
        for record in self.records:
            try:
                reader, writer = await asyncio.open_unix_connection(record["socket"])
            except OSError:
                # Alive pid, dead socket: the pid was reused by another process.
                remove_state(self.directory, int(record["pid"]))
                continue
            self.connections.append(Connection(record, reader, writer))
        if not self.connections:
            raise DrainError(
                f"no running server of this project found in {self.directory}.", EXIT_NO_SERVER
            )

    async def run(self, action: str, timeout: float) -> Outcome:
        started = time.monotonic()
        await self.connect()
        try:
            code, message = await getattr(self, f"_{action}")(timeout)
        finally:
            for follower in self.followers:
                follower.cancel()
            for connection in self.connections:
                connection.writer.close()
        statuses = {c.key: self._shown(c) for c in self.connections}
        self.view.finish(statuses)
        return Outcome(action, code, message, statuses, time.monotonic() - started, timeout)

    def _shown(self, connection: Connection) -> dict[str, Any]:
        return {**connection.status, "gone": connection.closed, "exited": connection.exited}

    async def _status(self, timeout: float) -> tuple[int, str]:
        for connection in self.connections:
            connection.send({"op": "status"})
            await connection.reply()
        return EXIT_OK, f"{plural(len(self.connections), 'server')} found"

    async def _undrain(self, timeout: float) -> tuple[int, str]:
        failed = []
        for connection in self.connections:
            connection.send({"op": "undrain"})
            reply = await connection.reply()
            if not reply.get("ok") or not connection.status.get("ready"):
                failed.append(f"pid {connection.pid}: {reply.get('error', 'not ready')}")
        if failed:
            return EXIT_TIMEOUT, "could not undrain " + "; ".join(failed)
        return EXIT_OK, f"{plural(len(self.connections), 'server')} serving again"

    async def _drain(self, timeout: float) -> tuple[int, str]:
        for connection in self.connections:
            connection.send({"op": "drain", "delay": self.delay}, {"op": "subscribe"})
            await connection.reply()  # the drain's own answer; progress follows
            self.followers.add(asyncio.ensure_future(self._follow(connection)))
        if await self._watch(lambda c: c.closed or bool(c.status.get("drained")), timeout):
            return EXIT_OK, f"{plural(len(self.connections), 'server')} drained"
        busy = [
            f"pid {c.pid} ({_holding(c.status)})"
            for c in self.connections
            if not (c.closed or c.status.get("drained"))
        ]
        return EXIT_TIMEOUT, f"timed out after {timeout:g}s; not drained: {', '.join(busy)}"

    async def _shutdown(self, timeout: float) -> tuple[int, str]:
        code, message = await self._drain(timeout)
        wait = 0.0
        for connection in self.connections:
            if not connection.closed:
                self._terminate(connection)
                wait = max(wait, connection.status.get("timeout") or DEFAULT_TIMEOUT)
        if not await self._watch(self._has_exited, wait + EXIT_MARGIN):
            left = [str(c.pid) for c in self.connections if not self._has_exited(c)]
            return EXIT_TIMEOUT, f"pid {', '.join(left)} did not exit"
        if code != EXIT_OK:
            return code, message + "; stopped anyway"
        return EXIT_OK, f"{plural(len(self.connections), 'server')} drained and stopped"

    def _terminate(self, connection: Connection) -> None:
        # The pidfd is taken while our connection proves the pid is still that server.
        try:
            connection.pidfd = os.pidfd_open(connection.pid)
        except (AttributeError, OSError):
            connection.pidfd = None
        else:
            asyncio.get_running_loop().add_reader(connection.pidfd, self._on_exit, connection)
        try:
            os.kill(connection.pid, signal.SIGTERM)
        except ProcessLookupError:
            self._on_exit(connection)

    def _on_exit(self, connection: Connection) -> None:
        if connection.pidfd is not None:
            asyncio.get_running_loop().remove_reader(connection.pidfd)
            os.close(connection.pidfd)
            connection.pidfd = None
        connection.exited = True
        self.queue.put_nowait((connection, "exited"))

    @staticmethod
    def _has_exited(connection: Connection) -> bool:
        return connection.exited or (connection.closed and connection.pidfd is None)

    async def _follow(self, connection: Connection) -> None:
        while True:
            try:
                await connection.reply()
            except (ConnectionError, ValueError):
                connection.closed = True
                self.queue.put_nowait((connection, "closed"))
                return
            self.queue.put_nowait((connection, "status"))

    async def _watch(self, done: Callable[[Connection], bool], timeout: float) -> bool:
        """Show each change until `done` holds for every process; False on timeout."""
        deadline = time.monotonic() + timeout
        for connection in self.connections:
            self.view.update(connection.key, self._shown(connection))
        while not all(done(connection) for connection in self.connections):
            try:
                connection, _ = await asyncio.wait_for(
                    self.queue.get(), deadline - time.monotonic()
                )
            except TimeoutError:
                return False
            self.view.update(connection.key, self._shown(connection))
        return True
