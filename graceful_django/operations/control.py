"""The control socket of one server process: what `manage.py drain` talks to on this host.

A Unix socket `<runtime dir>/<pid>.sock`, served on the server's own event loop, with
one JSON object per line each way:

    {"op": "status"}     -> {"ok": true, "op": "status", "status": {...}}
    {"op": "drain"}      -> readiness fails, new work gets a 503, the listener stays open
    {"op": "undrain"}    -> back to serving (impossible once a shutdown has started)
    {"op": "subscribe"}  -> the status now, then one {"op": "progress", ...} line per change,
                            until the client hangs up; the kernel closes the connection when
                            the process exits, which tells the client so.

Anything else gets {"ok": false, "error": "..."} and changes nothing. Only this user can
reach the socket: the runtime directory is 0700.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from ..core.coordinator import get_coordinator
from ..servers.base import ServerAdapter
from .runtime_state import (
    MAX_SOCKET_PATH,
    RuntimeDirError,
    ensure_private_dir,
    new_record,
    remove_state,
    runtime_dir,
    socket_path,
    write_state,
)
from .status import StatusFeed, start_feed

logger = logging.getLogger("graceful_django")

OPS = ("status", "drain", "undrain", "subscribe")
MAX_LINE = 4096


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def decode_request(line: bytes) -> tuple[str | None, str | None]:
    """(op, None) for a good request, (None, error) for anything else."""
    try:
        message = json.loads(line)
    except ValueError:
        return None, "bad request: not a JSON object on one line"
    if not isinstance(message, dict):
        return None, "bad request: not a JSON object on one line"
    op = message.get("op")
    if op not in OPS:
        return None, f"bad request: op must be one of {', '.join(OPS)}, not {op!r}"
    return str(op), None


def answer(op: str, feed: StatusFeed) -> dict[str, Any]:
    """Carry out a control request (status, drain or undrain) and say where we are."""
    coordinator = feed.coordinator
    reply: dict[str, Any] = {"ok": True, "op": op}
    if op == "drain":
        reply["changed"] = coordinator.begin_drain(refuse=True)
        if reply["changed"]:
            logger.info("drain requested: readiness fails, new work is refused")
    elif op == "undrain":
        if coordinator.shutting_down:
            return {
                "ok": False,
                "op": op,
                "error": "shutting down; cannot undrain",
                "status": feed.status(),
            }
        reply["changed"] = coordinator.undrain()
        if reply["changed"]:
            logger.info("undrain requested: serving again")
    reply["status"] = feed.status()
    return reply


class ControlServer:
    def __init__(self, feed: StatusFeed, directory: Path) -> None:
        self.feed = feed
        self.directory = directory
        self.path = socket_path(directory, os.getpid())
        self.record = new_record(directory, feed.adapter.name if feed.adapter else "unknown")
        self.server: asyncio.AbstractServer | None = None
        self.stopped = False

    async def start(self) -> None:
        if len(str(self.path)) > MAX_SOCKET_PATH:
            logger.error(
                "control socket path %s is too long; set a shorter GRACEFUL_RUNTIME_DIR", self.path
            )
            return
        self.path.unlink(missing_ok=True)  # left by an earlier process with our pid
        self.server = await asyncio.start_unix_server(
            self._serve, path=str(self.path), limit=MAX_LINE
        )
        self.path.chmod(0o600)
        self.write_state()
        self.feed.phase_listeners.append(self.write_state)
        logger.info("drain control socket at %s", self.path)

    def write_state(self) -> None:
        if self.stopped:
            return  # the phase still changes at exit; the file must stay gone
        status = self.feed.status()
        record = {**self.record, "phase": status["phase"], "listening": status["listening"]}
        try:
            write_state(self.directory, record)
        except OSError as error:
            logger.warning("could not write %s: %s", self.directory, error)

    def stop(self) -> None:
        """Gone from the directory; open connections stay until the process exits."""
        self.stopped = True
        if self.server is not None:
            self.server.close()
        remove_state(self.directory, os.getpid())

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    line = await reader.readline()
                except ValueError:  # longer than MAX_LINE
                    writer.write(encode({"ok": False, "error": "bad request: line too long"}))
                    break
                if not line:
                    break
                op, error = decode_request(line)
                if op is None:
                    writer.write(encode({"ok": False, "error": error}))
                    await writer.drain()
                    continue
                reply = answer(op, self.feed)
                writer.write(encode(reply))
                await writer.drain()
                if op == "subscribe":
                    await self._stream(reader, writer)
                    break
        except ConnectionError:
            pass  # the client went away
        finally:
            writer.close()

    async def _stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Ends when the client hangs up (read returns) or can no longer be written to.
        hung_up = asyncio.ensure_future(reader.read())
        try:
            async with contextlib.aclosing(self.feed.watch()) as statuses:
                async for status in statuses:
                    if hung_up.done():
                        return
                    writer.write(encode({"ok": True, "op": "progress", "status": status}))
                    await writer.drain()
        finally:
            hung_up.cancel()


_server: ControlServer | None = None
_tasks: set[asyncio.Task[None]] = set()


def on_server_started(
    sender: Any, loop: asyncio.AbstractEventLoop, adapter: ServerAdapter, **kwargs: Any
) -> None:
    """`server_started` receiver: serve the control socket on the server's loop."""
    global _server
    try:
        directory = ensure_private_dir(runtime_dir())
        _server = ControlServer(start_feed(get_coordinator(), adapter, loop), directory)
    except (RuntimeDirError, OSError) as error:
        logger.error("manage.py drain will not reach this process: %s", error)
        return
    task = loop.create_task(_start(_server))
    _tasks.add(task)  # the loop keeps only a weak reference
    task.add_done_callback(_tasks.discard)


async def _start(server: ControlServer) -> None:
    try:
        await server.start()
    except OSError as error:
        logger.error("manage.py drain will not reach this process: %s", error)


def on_shutdown_finished(sender: Any, **kwargs: Any) -> None:
    if _server is not None:
        _server.stop()
