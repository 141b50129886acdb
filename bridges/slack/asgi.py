"""An ASGI shortcut for `/slack/events`, in front of Django.

Django's request cycle costs more than the ack itself: its request signals and the sync-only
WhiteNoise middleware each hop to a worker thread and back. Slack's requests need none of it
(no session, no CSRF, no static files, no database), so this answers them on the event loop
through the same `slack_request_accept` the Django view uses; every other request goes to Django.
It serves the path as routed at the root (`/slack/events`); under a prefix the Django view answers.

Like Django's `TracingMiddleware` it opens the request's server span, which the queued job
continues (`dispatch.py`): a mention is one trace from this request to the tool call.
"""

import json

from django.conf import settings
from opentelemetry.trace import Status, StatusCode

from aspora.observability.tracing import server_span
from bridges.slack.ack import slack_request_accept
from bridges.slack.config import slack_config

PATH = "/slack/events"


class _TooLarge(Exception):
    pass


async def _read_body(receive) -> bytes | None:
    """The whole body, or None when the client went away; _TooLarge past Django's own limit."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit is not None and size > limit:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(send, status: int, body: dict | None) -> None:
    data = b"" if body is None else json.dumps(body).encode()
    headers = [(b"content-length", str(len(data)).encode())]
    if body is not None:
        headers.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def slack_events_shortcut(django_app):
    """Wrap Django's ASGI app so that `/slack/events` is answered before Django sees it."""

    async def app(scope, receive, send):
        if scope["type"] != "http" or scope["path"] != PATH:
            return await django_app(scope, receive, send)
        try:
            body = await _read_body(receive)
        except _TooLarge:
            message = "The request body is larger than this server accepts."
            return await _respond(send, 413, {"ok": False, "error": "too_large", "message": message})
        if body is None:
            return None
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        method = scope["method"]
        with server_span(method=method, path=PATH, headers=headers, route=PATH) as span:
            ack = await slack_request_accept(config=slack_config(), method=method, headers=headers, body=body)
            span.set_attribute("http.response.status_code", ack.status)
            if ack.status >= 500:
                span.set_status(Status(StatusCode.ERROR))
        return await _respond(send, ack.status, ack.body)

    return app
