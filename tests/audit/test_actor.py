"""On PostgreSQL the row-change triggers name the person a write was made for (`app_actor`), whatever
the front door: the console, the API, a skill's tool run in a worker, a bulk update in a request;
and a pooled connection never carries one person's name into someone else's work."""

from datetime import timedelta
from io import StringIO

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.management import call_command
from django.db import connection, transaction
from django.http import JsonResponse
from django.test import Client
from django.urls import path
from django.utils import timezone
from ninja import NinjaAPI

from aspora.api import BearerTokenAuth
from aspora.asgi import application
from audit.actor import CAPTURED_TABLES, audit_actor
from audit.models import RowChange
from domains.ecm.models import Ticket
from domains.fincrime.models import Alert, AlertStatus
from skills.models import RunStatus
from skills.services import skill_run_start
from tenants.context import Channel
from tenants.models import User
from tenants.services import api_token_create
from tests.skills.conftest import context_for, demo, eager_tasks  # noqa: F401 - shared fixtures

pytestmark = pytest.mark.services


def _pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _touch(request, number: int):
    """A bulk update of one ticket, as a service would make it; says which backend made it."""
    Ticket.objects.filter(number=number, assignee__username__in=["amir", "sarah"]).update(title=f"seen {number}")
    return JsonResponse({"pid": _pid()})


test_api = NinjaAPI(auth=[BearerTokenAuth()], urls_namespace="actor-test")


@test_api.post("/touch/{number}")
def _touch_api(request, number: int):
    return _touch(request, number)


urlpatterns = [path("touch/<int:number>/", _touch), path("api/", test_api.urls)]


def _actors(number: int) -> list[str]:
    ticket = Ticket.objects.get(number=number, assignee__username__in=["amir", "sarah"])
    changes = RowChange.objects.filter(table_name="ecm_ticket", operation="UPDATE", row_id=str(ticket.pk))
    return list(changes.order_by("id").values_list("app_actor", flat=True))


def _bearer(username: str) -> dict:
    _, raw = api_token_create(user=User.objects.get(username=username), name="test")
    return {"Authorization": f"Bearer {raw}"}


def test_a_ticket_resolved_through_the_api_names_the_token_holder(client, demo):  # noqa: F811
    response = client.post(
        "/api/runs",
        {"message": "resolve ticket 1047 as paid out", "skill": "resolve-ticket"},
        content_type="application/json",
        headers=_bearer("amir"),
    )

    assert response.status_code == 202, response.content
    assert Ticket.objects.get(number=1047, assignee__username="amir").status == "resolved"
    assert _actors(1047) == ["amir"]


def test_a_tool_run_in_a_worker_names_the_asker_and_leaves_nobody_behind(demo):  # noqa: F811
    # The test thread plays the worker: nobody is set here, the run's asker is.
    run = skill_run_start(
        context=context_for("amir", Channel.API), message="ticket 1049 was refunded, resolve it",
        skill_name="resolve-ticket",
    )  # fmt: skip
    Ticket.objects.filter(number=1049, assignee__username="amir").update(title="edited later")

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert _actors(1049) == ["amir", ""]


async def test_a_ticket_resolved_in_the_console_names_the_person(demo):  # noqa: F811
    @database_sync_to_async
    def cookie() -> bytes:
        browser = Client()
        browser.force_login(User.objects.get(username="amir"))
        return f"sessionid={browser.cookies['sessionid'].value}".encode()

    headers = [(b"origin", b"http://localhost"), (b"cookie", await cookie())]
    socket = WebsocketCommunicator(application, "/ws/console/", headers=headers)
    connected, _ = await socket.connect()
    ask = {"event": "ask", "message": "resolve ticket 1047 as delivered", "skill": "resolve-ticket"}
    await socket.send_json_to(ask)
    received = []
    while not received or received[-1]["event"] not in ("run.final", "run.error", "run.refused"):
        received.append(await socket.receive_json_from(timeout=20))
    await socket.disconnect()

    assert connected and received[-1]["event"] == "run.final", received[-1]
    assert await database_sync_to_async(_actors)(1047) == ["amir"]


@pytest.mark.urls("tests.audit.test_actor")
def test_requests_on_one_pooled_connection_never_carry_the_last_persons_name(demo, one_pooled_connection):  # noqa: F811
    nina, raj, anonymous = Client(), Client(), Client()
    nina.force_login(User.objects.get(username="nina"))
    old_alert = Alert.objects.filter(status=AlertStatus.CLOSED, case__isnull=True).first()
    Alert.objects.filter(pk=old_alert.pk).update(closed_at=timezone.now() - timedelta(days=6 * 366))
    connection.close()

    pids = [
        nina.post("/touch/1042/").json()["pid"],  # a session: the middleware
        raj.post("/api/touch/1047", headers=_bearer("raj")).json()["pid"],  # an API token: ninja's auth
        anonymous.post("/touch/1049/").json()["pid"],  # nobody signed in
    ]
    call_command("purge_retention", stdout=StringIO())  # a command: nobody
    pids.append(_pid())

    assert len(set(pids)) == 1, pids
    assert (_actors(1042), _actors(1047), _actors(1049)) == (["nina"], ["raj"], [""])
    purged = RowChange.objects.get(table_name="fincrime_alert", operation="DELETE", row_id=str(old_alert.pk))
    assert purged.app_actor == ""


def test_a_write_after_a_persons_rolled_back_transaction_names_nobody(demo):  # noqa: F811
    nina = User.objects.get(username="nina")
    with pytest.raises(RuntimeError), audit_actor(user=nina):
        pid = _pid()
        with transaction.atomic():
            Ticket.objects.filter(number=1042, assignee__username="sarah").update(title="gone")
            raise RuntimeError("rolled back")
    Ticket.objects.filter(number=1042, assignee__username="sarah").update(title="kept")
    with audit_actor(user=nina):
        Ticket.objects.filter(number=1049, assignee__username="amir").update(title="by nina")

    assert _pid() == pid
    assert (_actors(1042), _actors(1049)) == ([""], ["nina"])


def test_the_actor_is_set_for_exactly_the_tables_the_triggers_capture(db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT event_object_table FROM information_schema.triggers WHERE trigger_name = %s",
            ["audit_capture"],
        )
        captured = {row[0] for row in cursor.fetchall()}

    assert captured == set(CAPTURED_TABLES)
