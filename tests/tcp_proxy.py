"""A real TCP relay between a server process and PostgreSQL, that a test can cut or freeze.

It stands for the network between them: `cut()` resets every relayed connection and stops
listening (the database became unreachable), `freeze()` keeps the connections open but
stops relaying (the database stopped answering).
"""

from __future__ import annotations

import selectors
import socket
import struct
import threading


class TcpProxy:
    def __init__(self, target: tuple[str, int] | str) -> None:
        """`target`: (host, port), or the path of a Unix socket (the embedded PostgreSQL)."""
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.frozen = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # the listener was closed by cut()
            upstream = _connect(self.target)
            with self._lock:
                self.pairs.append((client, upstream))
            threading.Thread(target=self._relay, args=(client, upstream), daemon=True).start()

    def _relay(self, client: socket.socket, upstream: socket.socket) -> None:
        selector = selectors.DefaultSelector()
        selector.register(client, selectors.EVENT_READ, upstream)
        selector.register(upstream, selectors.EVENT_READ, client)
        try:
            while not self._stop.is_set():
                for key, _ in selector.select(timeout=None):
                    if self.frozen.is_set():
                        continue
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    key.data.sendall(data)
                if self.frozen.is_set():
                    self._stop.wait()  # relay nothing more, keep the sockets open
        except OSError:
            return
        finally:
            selector.close()

    def cut(self) -> None:
        """Reset every relayed connection and refuse new ones."""
        self._stop.set()
        self.listener.close()
        with self._lock:
            for pair in self.pairs:
                for sock in pair:
                    # SO_LINGER 0: close() sends a RST, as a dead network path would.
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    sock.close()

    def freeze(self) -> None:
        self.frozen.set()

    def close(self) -> None:
        if not self._stop.is_set():
            self.cut()


def _connect(target: tuple[str, int] | str) -> socket.socket:
    if isinstance(target, str):
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        upstream.connect(target)
        return upstream
    return socket.create_connection(target)
