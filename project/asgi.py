"""ASGI entry point: `daphne project.asgi:application` or `uvicorn project.asgi:application`."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

# Django first: the routing below imports models.
django_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from graceful_django.asgi import GracefulShutdown  # noqa: E402
from project.demo.routing import websocket_urlpatterns  # noqa: E402

application = GracefulShutdown(
    ProtocolTypeRouter(
        {
            "http": django_application,
            "websocket": AllowedHostsOriginValidator(URLRouter(websocket_urlpatterns)),
        }
    )
)
