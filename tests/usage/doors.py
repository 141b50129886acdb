"""Asking from each front door as a person would, for the budget and rate-limit tests."""

import json

from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from aspora.asgi import application
from tenants.models import User


@database_sync_to_async
def _cookie(username: str) -> bytes:
    client = Client()
    client.force_login(User.objects.get(username=username))
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def console_asks(username: str, *messages: str) -> list[dict]:
    """Ask each message on the console websocket; the first reply to each (accepted or refused)."""
    headers = [(b"origin", b"http://localhost"), (b"cookie", await _cookie(username))]
    socket = WebsocketCommunicator(application, "/ws/console/", headers=headers)
    connected, _ = await socket.connect()
    assert connected
    replies = []
    for index, message in enumerate(messages):
        await socket.send_json_to({"event": "ask", "message": message, "client_id": f"c{index}"})
        while True:
            reply = await socket.receive_json_from(timeout=20)
            if reply.get("event") in ("run.accepted", "run.refused") and reply.get("client_id") == f"c{index}":
                replies.append(reply)
                break
    await socket.disconnect()
    return replies


def api_ask(client: Client, message: str = "show my tickets", skill: str = "my-tickets"):
    return client.post("/api/runs", json.dumps({"message": message, "skill": skill}), content_type="application/json")
