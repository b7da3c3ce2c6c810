"""The real nginx and HAProxy in front of test servers, configured from the shipped recipes.

Each proxy runs in the foreground on a free loopback port with the recipe under deploy/
(only the addresses substituted, and the paths nginx writes put in a directory of its own),
so the tests exercise the configuration users copy.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.servers import ROOT, free_port

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
HAPROXY = shutil.which("haproxy") or (
    "/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None
)
RECIPES = {
    "nginx": ROOT / "deploy/nginx/graceful-web.conf",
    "haproxy": ROOT / "deploy/haproxy/haproxy.cfg",
}
# The instances' addresses in the recipes.
INSTANCES = ("127.0.0.1:8001", "127.0.0.1:8002")


def _config(kind: str, port: int, backends: tuple[int, int], directory: Path) -> list[str]:
    text = RECIPES[kind].read_text()
    for address, backend in zip(INSTANCES, backends, strict=True):
        text = text.replace(address, f"127.0.0.1:{backend}")
    if kind == "haproxy":
        text = text.replace("bind :80", f"bind 127.0.0.1:{port}")
        path = directory / "haproxy.cfg"
        path.write_text(text)
        assert HAPROXY is not None
        return [HAPROXY, "-f", str(path), "-db"]
    text = text.replace("listen 80;", f"listen 127.0.0.1:{port};")
    temp = " ".join(
        f"{name}_temp_path {directory}/{name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    wrapper = (
        f"daemon off; pid {directory}/nginx.pid; error_log {directory}/error.log warn;\n"
        f"events {{}}\nhttp {{ access_log off; {temp}\n{text}\n}}\n"
    )
    path = directory / "nginx.conf"
    path.write_text(wrapper)
    assert NGINX is not None
    return [NGINX, "-p", str(directory), "-c", str(path)]


def _wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"proxy not listening on {port}") from None
            time.sleep(0.02)  # a harness waiting for a port: nothing tells us sooner


@contextmanager
def running_proxy(kind: str, backends: tuple[int, int]) -> Iterator[tuple[int, Path]]:
    """(the proxy's port, its directory: nginx's error.log is there)."""
    directory = Path(tempfile.mkdtemp(prefix=f"gd-{kind}-"))
    port = free_port()
    log = open(directory / "output.log", "wb")  # noqa: SIM115 - the process keeps it
    process = subprocess.Popen(
        _config(kind, port, backends, directory), stdout=log, stderr=subprocess.STDOUT
    )
    try:
        _wait_listening(port, process)
        yield port, directory
    finally:
        process.terminate()
        process.wait(10)
        log.close()


# What a failed run needs from a proxy's logs: its view of the instances going down and up,
# nginx's errors, and HAProxy's first requests that did not end in a 2xx (after its timers;
# "<NOSRV>" where no instance was up).
STORY = re.compile(
    r"is (DOWN|UP)|\[(warn|error|crit|alert|emerg)\]|-?\d+/-?\d+/-?\d+/-?\d+/\d+ [13-5]\d\d |NOSRV"
)
STORY_LINES = 60


def proxy_story(directory: Path) -> str:
    lines: list[str] = []
    for path in sorted(directory.glob("*.log")):
        with path.open(errors="replace") as log:
            lines += [f"{path.name}: {line.rstrip()}" for line in log if STORY.search(line)]
    changes = [line for line in lines if " is DOWN" in line or " is UP" in line]
    others = [line for line in lines if line not in changes][:STORY_LINES]
    return "\n".join([*changes, *others]) or "(nothing in the proxy's logs)"
