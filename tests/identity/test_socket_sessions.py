"""Long-lived websockets stop when their session does: signed out anywhere (pushed at once), the
session deleted, the account deactivated or the password changed (seen on the next message or
the periodic re-check). Driven through the real ASGI app."""

import asyncio
from importlib import import_module

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from aspora.asgi import application
from aspora.realtime import abroadcast
from factory.services import tenant_group
from identity.sockets import SESSION_ENDED
from skills.models import SkillRun
from skills.services import run_group, skill_run_start
from tenants.models import User
from tests.factories import team_make, tenant_make, user_make
from tests.skills.conftest import context_for, demo, eager_tasks  # noqa: F401 - shared fixtures


@pytest.fixture
def nadia(transactional_db):
    return user_make("nadia", team=team_make(tenant=tenant_make("acme"), slug="ecm-field"), password="nadias-pw-123")


@database_sync_to_async
def _signed_in(username: str) -> Client:
    client = Client()
    client.force_login(User.objects.get(username=username))
    return client


async def _socket(client: Client, path: str) -> WebsocketCommunicator:
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    socket = WebsocketCommunicator(application, path, headers=[(b"origin", b"http://localhost"), (b"cookie", cookie)])
    connected, _ = await socket.connect()
    assert connected
    return socket


async def _ended(socket: WebsocketCommunicator, timeout: float = 5) -> str:
    """The reason of the last event, after checking the socket was then closed with 4440."""
    while True:
        event = await socket.receive_json_from(timeout=timeout)
        if event["event"] == "session.ended":
            break
    assert await socket.receive_output(timeout=timeout) == {"type": "websocket.close", "code": SESSION_ENDED}
    return event["reason"]


async def test_signing_out_closes_that_sessions_console_at_once(nadia, settings):
    settings.ASPORA_WS_SESSION_RECHECK_SECONDS = 3600  # only the push can close it in time
    client = await _signed_in("nadia")
    socket = await _socket(client, "/ws/console/")

    response = await database_sync_to_async(client.post)("/logout/")

    assert response.status_code == 302
    assert await _ended(socket, timeout=3) == "signed_out"
    await socket.disconnect()


async def test_the_persons_other_sessions_stay_open(nadia, settings):
    settings.ASPORA_WS_SESSION_RECHECK_SECONDS = 3600
    laptop, phone = await _signed_in("nadia"), await _signed_in("nadia")
    laptop_socket = await _socket(laptop, "/ws/console/")
    phone_socket = await _socket(phone, "/ws/events/")
    assert (await phone_socket.receive_json_from())["event"] == "session.ready"

    await database_sync_to_async(laptop.post)("/logout/")

    assert await _ended(laptop_socket) == "signed_out"
    await phone_socket.send_json_to({"event": "ping", "echo": 1})
    assert await phone_socket.receive_json_from() == {"event": "pong", "echo": 1}
    await laptop_socket.disconnect()
    await phone_socket.disconnect()


async def test_a_deleted_session_is_seen_before_the_next_message_is_handled(demo, settings):  # noqa: F811
    settings.ASPORA_WS_SESSION_RECHECK_SECONDS = 3600
    client = await _signed_in("sarah")
    socket = await _socket(client, "/ws/console/")
    store = import_module(settings.SESSION_ENGINE).SessionStore
    await database_sync_to_async(store(client.cookies["sessionid"].value).delete)()

    await socket.send_json_to({"event": "ask", "message": "show my tickets"})

    assert await _ended(socket) == "signed_out"
    assert not await database_sync_to_async(SkillRun.objects.exists)()
    await socket.disconnect()


async def test_a_deactivated_persons_factory_queue_closes_at_the_next_recheck(nadia, settings):
    settings.ASPORA_WS_SESSION_RECHECK_SECONDS = 0.2
    client = await _signed_in("nadia")
    socket = await _socket(client, "/ws/factory/")
    assert (await socket.receive_json_from())["event"] == "factory.ready"
    await asyncio.sleep(0.5)
    assert await socket.receive_nothing(timeout=0.1)  # re-checks of a standing session say nothing

    await database_sync_to_async(User.objects.filter(pk=nadia.pk).update)(is_active=False)

    assert await _ended(socket, timeout=3) == "deactivated"
    run = {"id": "x", "status": "queued"}
    await abroadcast(group=tenant_group(nadia.tenant_id), event_type="factory.run", payload={"run_id": "x", "run": run})
    assert await socket.receive_nothing(timeout=0.3)
    await socket.disconnect()


async def test_a_changed_password_stops_a_runs_socket(demo, settings):  # noqa: F811
    settings.ASPORA_WS_SESSION_RECHECK_SECONDS = 0.2
    start = database_sync_to_async(lambda: skill_run_start(context=context_for("sarah"), message="show my tickets"))
    run = await start()
    client = await _signed_in("sarah")
    socket = await _socket(client, f"/ws/runs/{run.id}/")
    while (await socket.receive_json_from(timeout=10))["event"] != "run.final":
        pass

    @database_sync_to_async
    def change_password():
        sarah = User.objects.get(username="sarah")
        sarah.set_password("a-brand-new-pw-456")
        sarah.save()

    await change_password()

    assert await _ended(socket, timeout=3) == "password_changed"
    late = {"run_id": str(run.id), "events": [{"seq": 999, "event": "run.delta", "data": {"text": "late"}}]}
    await abroadcast(group=run_group(run.id), event_type="run.events", payload=late)
    assert await socket.receive_nothing(timeout=0.3)
    await socket.disconnect()


def test_the_recheck_interval_is_a_setting_of_about_half_a_minute():
    assert settings.ASPORA_WS_SESSION_RECHECK_SECONDS == 30


@pytest.mark.parametrize(
    ("change", "reason"),
    [({"is_active": False}, "deactivated"), ({"password": "a-brand-new-pw-456"}, "password_changed")],
    ids=["deactivated", "new-password"],
)
async def test_deactivating_or_a_new_password_is_pushed_without_waiting(nadia, settings, change, reason):
    settings.ASPORA_WS_SESSION_RECHECK_SECONDS = 3600
    client = await _signed_in("nadia")
    console, events = await _socket(client, "/ws/console/"), await _socket(client, "/ws/events/")
    assert (await events.receive_json_from())["event"] == "session.ready"

    @database_sync_to_async
    def save_in_admin():
        user = User.objects.get(username="nadia")
        user.is_active = change.get("is_active", True)
        if "password" in change:
            user.set_password(change["password"])
        user.save()

    await save_in_admin()

    assert await _ended(console, timeout=3) == reason
    assert await _ended(events, timeout=3) == reason
    await console.disconnect()
    await events.disconnect()


async def test_other_changes_to_the_person_push_nothing(nadia, settings):
    settings.ASPORA_WS_SESSION_RECHECK_SECONDS = 3600
    client = await _signed_in("nadia")
    events = await _socket(client, "/ws/events/")
    assert (await events.receive_json_from())["event"] == "session.ready"

    @database_sync_to_async
    def rename():
        user = User.objects.get(username="nadia")
        user.display_name = "Nadia H."
        user.save()

    await rename()

    assert await events.receive_nothing(timeout=0.3)
    await events.send_json_to({"event": "ping", "echo": 2})
    assert await events.receive_json_from() == {"event": "pong", "echo": 2}
    await events.disconnect()
