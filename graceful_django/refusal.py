"""The one answer to work refused during a drain: 503, Retry-After, and a short text; and the
`Connection: close` of work served during one.

The same status, headers and body go out however the work arrived: through the ASGI
wrapper, through the middleware (WSGI, the test client), or as a websocket handshake.
A refused request was not processed, so a client may always retry it.
"""

from __future__ import annotations

from asgiref.typing import ASGISendCallable, ASGISendEvent
from django.http import HttpResponse

STATUS = 503
HTTP_BODY = b"Service is shutting down; retry shortly.\n"
WEBSOCKET_BODY = b"Service is shutting down; reconnect shortly.\n"
CONTENT_TYPE = "text/plain; charset=utf-8"


def refusal_headers(
    retry_after: int, *, body: bytes | None = None, close: bool = False
) -> list[tuple[bytes, bytes]]:
    """ASGI headers. With `body`, its length (a websocket handshake's is left to the server,
    which adds its own: uvicorn 0.50 would send it twice); `close` asks the server to end the
    connection after the response."""
    headers = [
        (b"content-type", CONTENT_TYPE.encode()),
        (b"retry-after", str(retry_after).encode()),
    ]
    if body is not None:
        headers.append((b"content-length", str(len(body)).encode()))
    if close:
        headers.append((b"connection", b"close"))
    return headers


async def send_http_refusal(send: ASGISendCallable, retry_after: int) -> None:
    """Refuse an ASGI HTTP call; its connection is closed after the answer."""
    await send(
        {
            "type": "http.response.start",
            "status": STATUS,
            "headers": refusal_headers(retry_after, body=HTTP_BODY, close=True),
            "trailers": False,
        }
    )
    await send({"type": "http.response.body", "body": HTTP_BODY, "more_body": False})


def closing_send(send: ASGISendCallable) -> ASGISendCallable:
    """`send`, with `Connection: close` added to the response's head (once: the middleware may
    have added it to a Django response already)."""

    async def send_closing(message: ASGISendEvent) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", ()))
            if not any(name.lower() == b"connection" for name, _ in headers):
                headers.append((b"connection", b"close"))
                message = {**message, "headers": headers}
        await send(message)

    return send_closing


def refusal_response(retry_after: int) -> HttpResponse:
    """Refuse a Django request (hop-by-hop headers are the caller's to add: WSGI forbids them)."""
    response = HttpResponse(HTTP_BODY, status=STATUS, content_type=CONTENT_TYPE)
    response["Retry-After"] = str(retry_after)
    return response
