"""DATABASES from DATABASE_URL (postgres://user:pass@host:port/name), else embedded SQLite."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse


def database_from_env(base_dir: Path) -> dict[str, Any]:
    url = os.environ.get("DATABASE_URL")
    if not url:
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": base_dir / "db.sqlite3"}
    parsed = urlparse(url)
    if parsed.scheme not in ("postgres", "postgresql"):
        raise ValueError(
            f"DATABASE_URL must start with postgres:// or postgresql://, not {parsed.scheme}://"
        )
    query = {key: values[-1] for key, values in parse_qs(parsed.query).items()}
    host = query.pop("host", None) or parsed.hostname or ""
    options: dict[str, Any] = {}
    # Lets a test tell this process's backends apart in pg_stat_activity.
    if application_name := os.environ.get("DATABASE_APPLICATION_NAME"):
        options["application_name"] = application_name
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parsed.path.lstrip("/")) or "postgres",
        "USER": unquote(parsed.username or ""),
        "PASSWORD": unquote(parsed.password or ""),
        "HOST": unquote(host),
        "PORT": str(parsed.port or query.pop("port", "") or ""),
        "CONN_MAX_AGE": int(os.environ.get("CONN_MAX_AGE", "0")),
        "OPTIONS": options,
    }
