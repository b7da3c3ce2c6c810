"""A small keep-alive HTTP/1.1 load generator on asyncio streams (no extra tools needed)."""

from __future__ import annotations

import asyncio
import time


async def _client(host: str, port: int, path: str, stop_at: float, counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    done = 0
    try:
        while time.monotonic() < stop_at:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await reader.readexactly(length)
            done += 1
    finally:
        counts.append(done)
        writer.close()


async def requests_per_second(
    host: str, port: int, path: str, seconds: float, connections: int
) -> float:
    counts: list[int] = []
    started = time.monotonic()
    stop_at = started + seconds
    await asyncio.gather(*(_client(host, port, path, stop_at, counts) for _ in range(connections)))
    return sum(counts) / (time.monotonic() - started)
