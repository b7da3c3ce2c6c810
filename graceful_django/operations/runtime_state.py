"""Where each server process of this host says it runs, so that `manage.py drain` finds it.

One private directory (0700, owned by the user) holds, per server process, `<pid>.json`
(who it is: pid, project, server, control socket, phase) and `<pid>.sock` (its control
socket). The file is written at start and on each phase change only; live counts are
asked over the socket, so the request path never writes a file. A process that died
without cleaning up (SIGKILL, the watchdog) leaves files that the next reader removes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import stat
import tempfile
import time
from pathlib import Path
from typing import Any

from django.conf import settings

from ..conf import conf

logger = logging.getLogger("graceful_django")

# AF_UNIX paths are limited to 108 bytes on Linux (104 on macOS).
MAX_SOCKET_PATH = 100


class RuntimeDirError(Exception):
    """The runtime directory cannot be used safely (owned by someone else, not a directory)."""


def runtime_dir() -> Path:
    configured = conf.GRACEFUL_RUNTIME_DIR
    if configured:
        return Path(configured)
    # XDG_RUNTIME_DIR is per user and private already; /tmp is shared, hence the uid.
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        return Path(xdg) / "graceful_django"
    return Path(tempfile.gettempdir()) / f"graceful_django-{os.getuid()}"


def ensure_private_dir(path: Path) -> Path:
    """Create `path` 0700, or check that the existing one is ours and private."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = path.lstat()
    except OSError as error:
        raise RuntimeDirError(f"cannot create runtime directory {path}: {error}") from error
    if not stat.S_ISDIR(info.st_mode):
        raise RuntimeDirError(f"runtime directory {path} is not a directory")
    if info.st_uid != os.getuid():
        raise RuntimeDirError(
            f"runtime directory {path} belongs to uid {info.st_uid}, "
            f"not to this user ({os.getuid()})"
        )
    if info.st_mode & 0o077:
        # Ours but readable by others (made by hand?): anyone could then drain us.
        try:
            path.chmod(0o700)
        except OSError as error:
            raise RuntimeDirError(
                f"runtime directory {path} is readable by others and cannot be made "
                f"private: {error}"
            ) from error
    return path


def project_id() -> str:
    """Same for every process of one project on one host, different across checkouts."""
    base_dir = str(getattr(settings, "BASE_DIR", os.getcwd()))
    identity = f"{settings.SETTINGS_MODULE}\0{base_dir}"
    return hashlib.sha256(identity.encode()).hexdigest()[:16]


def state_path(directory: Path, pid: int) -> Path:
    return directory / f"{pid}.json"


def socket_path(directory: Path, pid: int) -> Path:
    return directory / f"{pid}.sock"


def write_state(directory: Path, record: dict[str, Any]) -> None:
    """Atomically, so a reader never sees half a file; 0600 like the directory."""
    target = state_path(directory, int(record["pid"]))
    temporary = target.with_suffix(".json.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        json.dump(record, file)
    os.replace(temporary, target)


def remove_state(directory: Path, pid: int) -> OSError | None:
    """Remove a process's files; the error that kept one there (a read-only directory), if any.

    Never raises: a server calls it at the end of its shutdown, a client while cleaning up
    after dead processes, and neither may fail because of it.
    """
    failure: OSError | None = None
    for path in (state_path(directory, pid), socket_path(directory, pid)):
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as error:
            failure = failure or error
    return failure


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive, and surely not ours
    return True


def find_records(directory: Path, project: str) -> list[dict[str, Any]]:
    """This project's live server processes, by pid; files of dead processes are removed."""
    records: list[dict[str, Any]] = []
    if not directory.is_dir():
        return records
    for path in sorted(directory.glob("*.json")):
        try:
            record = json.loads(path.read_text())
            pid = int(record["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # being replaced right now, or not ours to judge
        if not pid_alive(pid):
            remove_state(directory, pid)
            continue
        if record.get("project") == project:
            records.append(record)
    return sorted(records, key=lambda record: int(record["pid"]))


def new_record(directory: Path, server: str) -> dict[str, Any]:
    pid = os.getpid()
    return {
        "pid": pid,
        "host": socket.gethostname(),
        "project": project_id(),
        "settings": settings.SETTINGS_MODULE,
        "server": server,
        "socket": str(socket_path(directory, pid)),
        "started": time.time(),
    }
