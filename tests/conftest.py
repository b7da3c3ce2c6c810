from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings

from tests.servers import ServerProcess


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
