"""project/asgi.py with the test consumers' routes added (tests/testapp/consumers.py)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from graceful_django.asgi import GracefulShutdown  # noqa: E402
from project.demo.consumers import EchoConsumer  # noqa: E402
from project.demo.routing import websocket_urlpatterns  # noqa: E402
from tests.testapp import consumers  # noqa: E402


def receive_wrapped(inner):
    """A middleware that hands its app a `receive` of its own (the consumer must still find
    the wrapper's record of its socket)."""

    async def app(scope, receive, send):
        async def wrapped_receive():
            return await receive()

        await inner(scope, wrapped_receive, send)

    return app


test_websocket_urlpatterns = [
    *websocket_urlpatterns,
    path("ws/test/record/", consumers.RecordingConsumer.as_asgi()),
    path("ws/test/sync/", consumers.SyncRecordingConsumer.as_asgi()),
    path("ws/test/json/", consumers.AsyncJsonRecordingConsumer.as_asgi()),
    path("ws/test/syncjson/", consumers.SyncJsonRecordingConsumer.as_asgi()),
    path("ws/test/plain/", consumers.PlainRecordingConsumer.as_asgi()),
    path("ws/test/hang/", consumers.HangingConsumer.as_asgi()),
    path("ws/test/slowconnect/", consumers.SlowConnectConsumer.as_asgi()),
    path("ws/test/queued/", consumers.QueuedMessagesConsumer.as_asgi()),
    path("ws/test/busysync/", consumers.BusySyncConsumer.as_asgi()),
    path("ws/test/graceful-echo/", consumers.GracefulEchoConsumer.as_asgi()),
    path("ws/test/order/", consumers.OrderConsumer.as_asgi()),
    path("ws/test/wrapped/", receive_wrapped(consumers.RecordingConsumer.as_asgi())),
    path("ws/test/echo/", EchoConsumer.as_asgi()),
]

application = GracefulShutdown(
    ProtocolTypeRouter(
        {"http": django_application, "websocket": URLRouter(test_websocket_urlpatterns)}
    )
)
