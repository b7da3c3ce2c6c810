"""The control socket of one server process: what `manage.py drain` talks to on this host.

A Unix socket `<runtime dir>/<pid>.sock`, served on the server's own event loop, with
one JSON object per line each way:

    {"op": "status"}     -> {"ok": true, "op": "status", "status": {...}}
    {"op": "drain"}      -> readiness fails; after GRACEFUL_PRE_DRAIN_DELAY (at once with
                            "delay": false) the drain proper: what still arrives is served
                            with Connection: close (or a 503 in "refuse" mode); the
                            listener stays open
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

from .ops import OPS, answer, bad_options
from .runtime_state import (
    MAX_SOCKET_PATH,
    new_record,
    remove_state,
    socket_path,
    write_state,
)
from .status import StatusFeed

logger = logging.getLogger("graceful_django")

# The socket streams progress too; the other operations mean the same on every transport.
SOCKET_OPS = (*OPS, "subscribe")
MAX_LINE = 4096


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def decode_request(line: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """(request, None) for a good request, (None, error) for anything else."""
    try:
        message = json.loads(line)
    except ValueError:
        return None, "bad request: not a JSON object on one line"
    if not isinstance(message, dict):
        return None, "bad request: not a JSON object on one line"
    op = message.get("op")
    if op not in SOCKET_OPS:
        return None, f"bad request: op must be one of {', '.join(SOCKET_OPS)}, not {op!r}"
    error = bad_options(message)
    if error is not None:
        return None, error
    return message, None


class ControlServer:
    def __init__(self, feed: StatusFeed, directory: Path) -> None:
        self.feed = feed
        self.directory = directory
        self.path = socket_path(directory, os.getpid())
        self.record = new_record(directory, feed.adapter.name if feed.adapter else "unknown")
        self.server: asyncio.AbstractServer | None = None
        self.stopped = False
        # The directory's trouble is logged once, not at every phase change.
        self._write_failed = False

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
            if not self._write_failed:
                self._write_failed = True
                logger.warning(
                    "cannot write this process's state in %s (%s): manage.py drain will not "
                    "list it; the shutdown is not affected",
                    self.directory,
                    error,
                )

    def stop(self) -> None:
        """Gone from the directory; open connections stay until the process exits."""
        self.stopped = True
        if self.server is None:
            return  # never started: nothing of ours is in the directory
        self.server.close()
        error = remove_state(self.directory, os.getpid())
        if error is not None:
            logger.warning(
                "could not remove this process's files from %s (%s); the next `manage.py "
                "drain` ignores them once the process is gone",
                self.directory,
                error,
            )

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
                message, error = decode_request(line)
                if message is None:
                    writer.write(encode({"ok": False, "error": error}))
                    await writer.drain()
                    continue
                op = str(message["op"])
                reply = answer(op, self.feed, delay=message.get("delay", True))
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
