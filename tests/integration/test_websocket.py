"""The portal's event socket, through the full ASGI app (channels_redis in production mode)."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from aspora.asgi import application
from aspora.realtime import abroadcast, user_group
from tests.factories import user_make

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def _session_cookie_for(username: str) -> tuple[int, bytes]:
    user = user_make(username)
    client = Client()
    client.force_login(user)
    return user.pk, f"sessionid={client.cookies['sessionid'].value}".encode()


def _socket(cookie: bytes | None, origin: bytes = b"http://localhost") -> WebsocketCommunicator:
    headers = [(b"origin", origin), *([(b"cookie", cookie)] if cookie else [])]
    return WebsocketCommunicator(application, "/ws/events/", headers=headers)


async def test_a_signed_in_person_gets_their_own_events_and_a_ping_round_trip():
    user_id, cookie = await _session_cookie_for("ana")
    socket = _socket(cookie)

    connected, _ = await socket.connect()
    assert connected
    assert await socket.receive_json_from(timeout=5) == {"event": "session.ready", "user": "ana"}
    await socket.send_json_to({"event": "ping", "echo": "hello"})
    assert await socket.receive_json_from(timeout=5) == {"event": "pong", "echo": "hello"}

    await abroadcast(
        group=user_group(user_id), event_type="notification.created", payload={"text": "ticket 7 escalated"}
    )
    assert await socket.receive_json_from(timeout=5) == {"event": "notification.created", "text": "ticket 7 escalated"}
    await socket.disconnect()


async def test_nobody_receives_another_persons_events():
    _, ana_cookie = await _session_cookie_for("ana")
    bob_id, _ = await _session_cookie_for("bob")
    socket = _socket(ana_cookie)
    await socket.connect()
    await socket.receive_json_from(timeout=5)

    await abroadcast(group=user_group(bob_id), event_type="notification.created", payload={"text": "for bob only"})

    assert await socket.receive_nothing(timeout=0.5)
    await socket.disconnect()


async def test_anonymous_sockets_are_closed_before_joining_anything():
    socket = _socket(cookie=None)

    connected, code = await socket.connect()

    assert not connected
    assert code == 4401
    await socket.disconnect()


async def test_a_socket_from_a_foreign_origin_is_refused():
    _, cookie = await _session_cookie_for("ana")
    socket = _socket(cookie, origin=b"https://evil.example")

    connected, _ = await socket.connect()

    assert not connected
