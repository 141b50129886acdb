"""/metrics: who may read it, and the series an operator queries after real runs."""

import shutil
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.test import Client

from aspora.asgi import application
from factory.models import RunStatus as FactoryRunStatus
from factory.services import factory_run_queue, risk_tiers_default_create
from skills.models import RunStatus
from skills.services import skill_run_start
from tenants.models import User
from tests.factories import user_make
from tests.loopback import OpenAIChatServer, Reply
from tests.observability.conftest import value
from tests.skills.conftest import context_for


def test_metrics_refuse_anonymous_wrong_tokens_and_non_staff(client, db, metrics_token):
    anonymous = client.get("/metrics")
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert client.get("/metrics", headers={"Authorization": "Bearer not-the-token"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Basic {metrics_token}"}).status_code == 401

    client.force_login(user_make("ana"))
    assert client.get("/metrics").status_code == 403


def test_without_a_configured_token_no_bearer_token_is_accepted(client, db, settings):
    settings.ASPORA_METRICS_TOKEN = ""
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer anything"}).status_code == 401


def test_staff_read_metrics_signed_in(client, db):
    client.force_login(user_make("ops", is_staff=True))
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert b"# TYPE aspora_skill_run_duration_seconds histogram" in response.content
    assert b"aspora_celery_queue_depth" in response.content


def _tickets_then_summary(body: dict) -> Reply:
    if any(message["role"] == "tool" for message in body["messages"]):
        return Reply(text="You have 4 open tickets; 2 are past SLA.")
    return Reply(tool_calls=[("list_my_tickets", {"status": "active"})])


def test_a_run_on_a_provider_shows_in_latency_status_tokens_cost_and_tool_series(demo, scrape, monkeypatch, settings):
    labels = {"domain": "ecm", "skill": "my-tickets", "model": "openai:gpt-4o-mini"}
    before = scrape()
    with OpenAIChatServer(_tickets_then_summary) as server:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-loopback-test")
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        settings.ASPORA_MODEL = "openai:gpt-4o-mini"
        run = skill_run_start(context=context_for("sarah"), message="show my tickets", skill_name="my-tickets")
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    after = scrape()

    def delta(name, **extra):
        return value(after, name, **extra) - value(before, name, **extra)

    assert delta("aspora_skill_runs_total", **labels, status="succeeded") == 1
    assert delta("aspora_skill_run_duration_seconds_count", **labels) == 1
    seconds = (run.finished_at - run.queued_at).total_seconds()
    assert delta("aspora_skill_run_duration_seconds_sum", **labels) == pytest.approx(seconds, abs=0.01)
    assert delta("aspora_skill_run_first_token_seconds_count", **labels) == 1
    assert delta("aspora_model_tokens_total", **labels, direction="input") == 240
    assert delta("aspora_model_tokens_total", **labels, direction="output") == 60
    assert delta("aspora_model_cost_usd_total", **labels) == pytest.approx(float(run.cost_usd))
    assert run.cost_usd > 0
    assert delta("aspora_tool_call_duration_seconds_count", tool="list_my_tickets", outcome="success") == 1


def test_a_failed_run_is_counted_as_failed(demo, scrape, monkeypatch, settings):
    labels = {"domain": "ecm", "skill": "my-tickets", "model": "openai:gpt-4o-mini", "status": "failed"}
    before = scrape()
    with OpenAIChatServer(lambda body: Reply(status=400)) as server:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-loopback-test")
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        settings.ASPORA_MODEL = "openai:gpt-4o-mini"
        run = skill_run_start(context=context_for("sarah"), message="show my tickets", skill_name="my-tickets")
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert (
        value(scrape(), "aspora_skill_runs_total", **labels) - value(before, "aspora_skill_runs_total", **labels) == 1
    )


SPEC = Path(django_settings.BASE_DIR) / "factory" / "specs" / "ecm-stale-escalations.md"


def test_a_factory_run_records_each_stage_duration(
    demo, scrape, settings, tmp_path, django_capture_on_commit_callbacks
):
    live = tmp_path / "domains"
    shutil.copytree(settings.ASPORA_DOMAINS_DIR, live, ignore=shutil.ignore_patterns("__pycache__"))
    settings.ASPORA_DOMAINS_DIR = live
    settings.ASPORA_FACTORY_DIR = tmp_path / "factory"
    settings.ASPORA_FACTORY_DISPATCH = "inline"
    risk_tiers_default_create()
    before = scrape()
    with django_capture_on_commit_callbacks(execute=True):
        run = factory_run_queue(
            requester=User.objects.get(username="paula"), spec_text=SPEC.read_text(), spec_name=SPEC.name
        )
    run.refresh_from_db()
    assert run.status == FactoryRunStatus.DEPLOYED
    after = scrape()
    for stage in run.stages.all():
        labels = {"stage": stage.name, "status": stage.status}
        assert value(after, "aspora_factory_stage_duration_seconds_count", **labels) > value(
            before, "aspora_factory_stage_duration_seconds_count", **labels
        ), labels
    test_seconds = value(after, "aspora_factory_stage_duration_seconds_sum", stage="test", status="passed") - value(
        before, "aspora_factory_stage_duration_seconds_sum", stage="test", status="passed"
    )
    assert test_seconds == pytest.approx(run.stages.get(name="test").duration_ms / 1000, abs=0.01)


@pytest.mark.asyncio
async def test_open_websockets_are_counted_until_they_close(demo, scrape):
    read = database_sync_to_async(scrape)
    before = value(await read(), "aspora_websocket_connections", consumer="ConsoleConsumer")

    @database_sync_to_async
    def cookie() -> bytes:
        client = Client()
        client.force_login(User.objects.get(username="sarah"))
        return f"sessionid={client.cookies['sessionid'].value}".encode()

    headers = [(b"origin", b"http://localhost"), (b"cookie", await cookie())]
    sockets = [WebsocketCommunicator(application, "/ws/console/", headers=headers) for _ in range(2)]
    for socket in sockets:
        connected, _ = await socket.connect()
        assert connected
    assert value(await read(), "aspora_websocket_connections", consumer="ConsoleConsumer") == before + 2
    await sockets[0].disconnect()
    assert value(await read(), "aspora_websocket_connections", consumer="ConsoleConsumer") == before + 1
    await sockets[1].disconnect()
    assert value(await read(), "aspora_websocket_connections", consumer="ConsoleConsumer") == before


@pytest.mark.asyncio
async def test_a_refused_socket_is_not_counted(db, scrape):
    before = value(await database_sync_to_async(scrape)(), "aspora_websocket_connections", consumer="ConsoleConsumer")
    socket = WebsocketCommunicator(application, "/ws/console/", headers=[(b"origin", b"http://localhost")])
    connected, code = await socket.connect()
    assert (connected, code) == (False, 4401)
    after = value(await database_sync_to_async(scrape)(), "aspora_websocket_connections", consumer="ConsoleConsumer")
    assert after == before
