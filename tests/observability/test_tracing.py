"""One trace from the request to the tool call, exported over OTLP/HTTP to a loopback collector,
kept on the run, and without message content unless allowed."""

import pytest

from skills import executor
from skills.models import RunStatus, SkillRun
from tenants.models import User
from tenants.services import api_token_create
from tests.loopback import OpenAIChatServer, Reply
from tests.whatsapp.conftest import SARAH, graph, post_webhook, text_message, webhook_payload  # noqa: F401

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{CALLER_TRACE}-00f067aa0ba902b7-01"
QUESTION = "show my tickets, the Zanzibar-7713 ones"
ANSWER = "You have 4 open tickets; the Quokka-5521 one is past SLA."
TOOL_RESULT = "Transfer stuck at beneficiary bank"  # a ticket title the tool returns


def _script(body: dict) -> Reply:
    if any(message["role"] == "tool" for message in body["messages"]):
        return Reply(text=ANSWER)
    return Reply(tool_calls=[("list_my_tickets", {"status": "active"})])


@pytest.fixture
def provider(monkeypatch, settings):
    with OpenAIChatServer(_script) as server:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-loopback-test")
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        settings.ASPORA_MODEL = "openai:gpt-4o-mini"
        monkeypatch.setattr(executor, "_agents", {})  # agents built with this test's trace settings
        yield server


def _ask(client, headers: dict | None = None) -> SkillRun:
    _, raw = api_token_create(user=User.objects.get(username="sarah"), name="trace-test")
    response = client.post(
        "/api/runs",
        {"message": QUESTION, "skill": "my-tickets"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {raw}", **(headers or {})},
    )
    assert response.status_code == 202, response.content
    run = SkillRun.objects.get(pk=response.json()["id"])
    assert run.status == RunStatus.SUCCEEDED, run.error
    return run


def _by_name(spans, prefix: str):
    found = [span for span in spans if span.name.startswith(prefix)]
    assert len(found) == 1, (prefix, [span.name for span in spans])
    return found[0]


def test_a_request_its_task_the_agent_the_model_and_the_tool_share_one_trace_kept_on_the_run(
    demo, provider, otlp_collector, client
):
    run = _ask(client, headers={"traceparent": TRACEPARENT})

    # The caller's trace (a bridge or proxy in front) is continued, and the run keeps its id.
    assert run.trace_id == CALLER_TRACE
    spans = otlp_collector.trace(CALLER_TRACE)
    request = _by_name(spans, "POST /api/")
    task = _by_name(spans, "run/skills.skill_run_execute")
    skill_run = _by_name(spans, "skill run")
    agent = _by_name(spans, "invoke_agent my-tickets")
    tool = _by_name(spans, "execute_tool list_my_tickets")
    models = [span for span in spans if span.name == "chat gpt-4o-mini"]

    assert request.parent_span_id == "00f067aa0ba902b7"
    assert request.attributes["http.response.status_code"] == 202
    assert task.parent_span_id == request.span_id
    assert skill_run.parent_span_id == task.span_id
    assert agent.parent_span_id == skill_run.span_id
    assert len(models) == 2  # the tool call, then the answer
    assert {span.parent_span_id for span in models} == {agent.span_id}
    assert tool.parent_span_id == agent.span_id
    assert skill_run.attributes["aspora.run.id"] == str(run.id)
    assert skill_run.attributes["aspora.run.status"] == "succeeded"
    assert (skill_run.attributes["aspora.skill"], skill_run.attributes["aspora.domain"]) == ("my-tickets", "ecm")
    assert {span.service for span in spans} == {"aspora"}


def test_without_a_caller_trace_the_request_starts_one_and_the_run_names_it(demo, provider, otlp_collector, client):
    run = _ask(client)

    assert len(run.trace_id) == 32 and run.trace_id != CALLER_TRACE
    request = _by_name(otlp_collector.trace(run.trace_id), "POST /api/")
    assert request.parent_span_id == ""


def test_no_prompt_answer_or_tool_content_is_exported_by_default(demo, provider, otlp_collector, client):
    run = _ask(client)

    assert ANSWER in run.answer
    assert len(otlp_collector.trace(run.trace_id)) >= 6
    exported = otlp_collector.raw()
    for content in (QUESTION, "Zanzibar-7713", "Quokka-5521", TOOL_RESULT, "sarah"):
        assert content.encode() not in exported, content


def test_with_trace_content_allowed_the_spans_carry_the_conversation(demo, provider, otlp_collector, client, settings):
    settings.ASPORA_TRACE_CONTENT = True
    run = _ask(client)

    spans = otlp_collector.trace(run.trace_id)
    exported = otlp_collector.raw()
    assert b"Zanzibar-7713" in exported and b"Quokka-5521" in exported and TOOL_RESULT.encode() in exported
    assert any("Quokka-5521" in str(span.attributes) for span in spans if span.name.startswith("invoke_agent"))


def test_the_trace_id_is_in_the_run_footer_and_finds_the_run_in_the_admin(demo, provider, client):
    run = _ask(client, headers={"traceparent": TRACEPARENT})

    client.force_login(User.objects.get(username="sarah"))
    page = client.get("/console/", {"c": str(run.conversation_id)}).content.decode()
    assert f"trace {CALLER_TRACE}" in page

    admin = User.objects.create_superuser("root-o7", password="pw-for-tests-1", tenant=run.tenant)
    client.force_login(admin)
    found = client.get("/admin/skills/skillrun/", {"q": CALLER_TRACE})
    assert found.status_code == 200
    assert f"/admin/skills/skillrun/{run.id}/change/" in found.content.decode()
    assert client.get("/admin/skills/skillrun/", {"q": "0" * 32}).content.decode().count("/change/") == 0
    assert CALLER_TRACE in client.get(f"/admin/skills/skillrun/{run.id}/change/").content.decode()


def test_spans_leave_the_process_only_when_an_otlp_endpoint_is_configured(monkeypatch):
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    from aspora.observability.tracing import exporters

    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    assert exporters() == []
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector.internal:4318")
    [exporter] = exporters()
    assert isinstance(exporter, OTLPSpanExporter)
    assert exporter._endpoint == "http://collector.internal:4318/v1/traces"


def test_a_whatsapp_message_is_one_trace_from_the_webhook_to_the_tool_call(otlp_collector, client, graph):  # noqa: F811
    response = post_webhook(client, webhook_payload(text_message("show my tickets")))

    assert response.status_code == 200 and len(graph.sent) == 1
    run = SkillRun.objects.get(channel="whatsapp")
    spans = otlp_collector.trace(run.trace_id)
    webhook = _by_name(spans, "POST /whatsapp/webhook")
    task = _by_name(spans, "run/skills.skill_run_execute")
    skill_run = _by_name(spans, "skill run")
    agent = _by_name(spans, "invoke_agent")
    models = [span for span in spans if span.name == "chat aspora:offline"]
    tool = _by_name(spans, "execute_tool list_my_tickets")
    assert webhook.parent_span_id == ""
    assert webhook.attributes["http.route"] == "/whatsapp/webhook"
    assert task.parent_span_id == webhook.span_id
    assert skill_run.parent_span_id == task.span_id
    assert agent.parent_span_id == skill_run.span_id
    assert len(models) == 2  # the tool call, then the answer
    assert {span.parent_span_id for span in models} == {tool.parent_span_id} == {agent.span_id}
    assert SARAH.encode() not in otlp_collector.raw()


@pytest.mark.asyncio
async def test_a_question_asked_in_the_console_is_one_trace_from_the_socket_to_the_tool_call(demo, otlp_collector):
    from channels.db import database_sync_to_async
    from channels.testing import WebsocketCommunicator
    from django.test import Client

    from aspora.asgi import application

    @database_sync_to_async
    def cookie() -> bytes:
        client = Client()
        client.force_login(User.objects.get(username="sarah"))
        return f"sessionid={client.cookies['sessionid'].value}".encode()

    socket = WebsocketCommunicator(
        application, "/ws/console/", headers=[(b"origin", b"http://localhost"), (b"cookie", await cookie())]
    )
    assert (await socket.connect())[0]
    await socket.send_json_to({"event": "ask", "message": "show my tickets", "skill": "my-tickets"})
    while (message := await socket.receive_json_from(timeout=20))["event"] != "run.final":
        pass
    await socket.disconnect()

    run = await database_sync_to_async(SkillRun.objects.get)(pk=message["run_id"])
    spans = otlp_collector.trace(run.trace_id)
    ask = _by_name(spans, "console ask")
    task = _by_name(spans, "run/skills.skill_run_execute")
    assert ask.parent_span_id == ""
    assert task.parent_span_id == ask.span_id
    assert _by_name(spans, "skill run").parent_span_id == task.span_id
    assert _by_name(spans, "execute_tool list_my_tickets")
