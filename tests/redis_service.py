"""Whether the Redis the channel layer tests need answers (they skip, saying so, when not)."""

from __future__ import annotations

import socket
from urllib.parse import urlparse


def unreachable(url: str) -> str | None:
    """None when Redis at `url` accepts a connection, else why not (a skip reason)."""
    address = urlparse(url)
    try:
        socket.create_connection((address.hostname, address.port or 6379), timeout=1).close()
    except OSError as error:
        return f"no Redis at {url} ({error})"
    return None
