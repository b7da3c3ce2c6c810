"""The demo's ASGI application without the GracefulShutdown wrapper (baseline)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings_plain")

from django.core.asgi import get_asgi_application  # noqa: E402

application = get_asgi_application()
