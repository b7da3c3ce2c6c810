"""Test settings: the demo site's, on a real PostgreSQL, plus the test app."""

from __future__ import annotations

import os

from tests.database import ensure_database_url

ensure_database_url()
os.environ.setdefault("CONN_MAX_AGE", "60")

from project.settings import *  # noqa: E402,F403
from project.settings import BASE_DIR, INSTALLED_APPS  # noqa: E402
from project.database import database_from_env  # noqa: E402

INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]
DATABASES = {"default": database_from_env(BASE_DIR)}
ROOT_URLCONF = "tests.urls"
