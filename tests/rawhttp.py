"""A raw HTTP/1.1 client on one socket, for tests that must see exactly what a connection does.

httpx and friends hide what matters here (an EOF or a reset where a response was due, the
`Connection` header, retries), so these tests speak HTTP over a plain socket.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from dataclasses import dataclass, field


class Dropped(AssertionError):
    """The connection ended (EOF or reset) where a response was due."""


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def closes(self) -> bool:
        return self.headers.get("connection", "").lower() == "close"


class RawConnection:
    def __init__(self, port: int, timeout: float = 20.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buffer = b""

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> None:
        self.send(head(method, path, len(body), headers) + body)

    def _fill(self) -> None:
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError as error:
            raise Dropped(f"connection reset ({error})") from error
        if not chunk:
            raise Dropped("EOF: the server closed the connection without a response")
        self.buffer += chunk

    def read_response(self) -> Response:
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        raw_head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = raw_head.decode("latin-1").split("\r\n")
        response = Response(status=int(lines[0].split()[1]))
        for line in lines[1:]:
            name, _, value = line.partition(":")
            response.headers[name.strip().lower()] = value.strip()
        if "content-length" in response.headers:
            response.body = self._read_exactly(int(response.headers["content-length"]))
        elif response.headers.get("transfer-encoding", "").lower() == "chunked":
            response.body = self._read_chunked()
        return response

    def _read_exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self._fill()
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def _read_chunked(self) -> bytes:
        body = b""
        while True:
            while b"\r\n" not in self.buffer:
                self._fill()
            size_line, self.buffer = self.buffer.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            chunk = self._read_exactly(size + 2)[:-2]
            if size == 0:
                return body
            body += chunk


def head(method: str, path: str, length: int = 0, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    if length or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {length}")
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_slowly(connection: RawConnection, path: str, rate: float, started: threading.Event) -> int:
    """GET `path` and read its body at `rate` bytes/s; the body length that arrived."""
    connection.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
    connection.request("GET", path)
    received = 0
    began = time.monotonic()
    expected: int | None = None
    while expected is None or received < expected:
        try:
            chunk = connection.sock.recv(64 * 1024)
        except ConnectionResetError:
            break
        if not chunk:
            break
        if expected is None:
            connection.buffer += chunk
            if b"\r\n\r\n" not in connection.buffer:
                continue
            raw_head, chunk = connection.buffer.split(b"\r\n\r\n", 1)
            length = re.search(rb"(?i)content-length: *(\d+)", raw_head)
            assert length is not None, raw_head
            expected = int(length.group(1))
            started.set()
        received += len(chunk)
        # The client's pace is the scenario itself (a slow reader), not a wait for an event.
        ahead = received / rate - (time.monotonic() - began)
        if ahead > 0:
            time.sleep(ahead)
    return received
