from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.servers import ServerProcess

# Printed by a server once its `manage.py drain` control socket listens.
CONTROL_READY = "drain control socket at"


def database_url_for_test_db() -> str:
    """DATABASE_URL pointing at the test database pytest-django created."""
    db = settings.DATABASES["default"]
    host = db["HOST"]
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    if host.startswith("/"):
        return f"postgresql://{auth}@/{db['NAME']}?host={host}" + (
            f"&port={db['PORT']}" if db["PORT"] else ""
        )
    return f"postgresql://{auth}@{host}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def server_factory(transactional_db: Any) -> Iterator[Callable[..., ServerProcess]]:
    """Start real server processes on the test database; all are killed after the test.

    Tests that use it see the servers' rows (no wrapping transaction); tables are flushed
    after each test.
    """
    started: list[ServerProcess] = []

    def start(
        kind: str = "daphne", env: dict[str, str] | None = None, **kwargs: Any
    ) -> ServerProcess:
        server_env = {"DATABASE_URL": database_url_for_test_db(), **(env or {})}
        server = ServerProcess(kind=kind, env=server_env, **kwargs)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.kill()


@pytest.fixture
def runtime_env() -> Iterator[dict[str, str]]:
    """A private runtime dir per test (short: Unix socket paths are limited to ~100 bytes)."""
    directory = tempfile.mkdtemp(prefix="gd-")
    yield {"GRACEFUL_RUNTIME_DIR": directory, "DATABASE_URL": database_url_for_test_db()}
    for path in Path(directory).iterdir():
        path.unlink()
    os.rmdir(directory)


@pytest.fixture
def control_server(
    server_factory: Callable[..., ServerProcess], runtime_env: dict[str, str]
) -> Callable[..., ServerProcess]:
    """A server in the test's runtime dir, returned once its control socket listens."""

    def start(kind: str = "daphne", env: dict[str, str] | None = None) -> ServerProcess:
        server = server_factory(kind, env={**runtime_env, **(env or {})})
        server.wait_for_log(CONTROL_READY)
        return server

    return start
