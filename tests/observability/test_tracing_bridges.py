"""A chat message is one trace from the bridge's HTTP request on: the request's span, the job or
thread that handles it, the run's task, the agent and its tool call, and the run keeps its id.
The bridges hand their work to threads here (the embedded default), where no span is current
unless the job carries it."""

import itertools
import json
import threading
import time

from asgiref.sync import sync_to_async

from aspora.asgi import application
from bridges.whatsapp.views import whatsapp_dispatch
from skills.models import RunStatus, SkillRun
from tests.asgi import asgi_request
from tests.bridges.conftest import drain, linked, mention, post_event, signature, slack_api, slack_env  # noqa: F401
from tests.whatsapp.conftest import graph, post_webhook, text_message, webhook_payload  # noqa: F401

SLACK_CHAIN = (
    "POST /slack/events",
    "slack request job",
    "slack event job",
    "run/skills.skill_run_execute",
    "skill run",
    "invoke_agent my-tickets",
    "execute_tool list_my_tickets",
)


def _one(spans, name: str):
    found = [span for span in spans if span.name == name]
    assert len(found) == 1, (name, sorted(span.name for span in spans))
    return found[0]


def _assert_chain(spans, names: tuple[str, ...]) -> None:
    """Each named span is the child of the one before it; the first is the trace's root."""
    chain = [_one(spans, name) for name in names]
    assert chain[0].parent_span_id == ""
    for parent, child in itertools.pairwise(chain):
        assert child.parent_span_id == parent.span_id, (parent.name, child.name)


def _assert_one_trace_from_the_request(collector, run: SkillRun, request_name: str) -> list:
    assert run.status == RunStatus.SUCCEEDED, run.error
    spans = collector.spans
    # Every span of the test is in the run's trace: no job or task started a trace of its own.
    assert {span.trace_id for span in spans} == {run.trace_id}
    request = min(spans, key=lambda span: span.start)
    assert request.name == request_name
    assert request.kind == 2  # SPAN_KIND_SERVER
    return spans


async def test_a_slack_mention_through_the_asgi_shortcut_is_one_trace_from_the_request(
    linked,  # noqa: F811
    slack_env,  # noqa: F811
    otlp_collector,
):
    body = json.dumps(mention("show my tickets", event_id="EvTrace1"))
    timestamp = int(time.time())
    headers = [
        (b"content-type", b"application/json"),
        (b"x-slack-request-timestamp", str(timestamp).encode()),
        (b"x-slack-signature", signature(body, timestamp).encode()),
    ]

    response = await asgi_request(application, "POST", "/slack/events", body=body.encode(), headers=headers)

    assert response["status"] == 200
    await sync_to_async(drain)()
    run = await SkillRun.objects.aget(channel="slack")
    spans = _assert_one_trace_from_the_request(otlp_collector, run, "POST /slack/events")
    _assert_chain(spans, SLACK_CHAIN)
    request = _one(spans, "POST /slack/events")
    assert request.attributes["http.route"] == "/slack/events"
    assert request.attributes["http.response.status_code"] == 200
    assert "#1042" in slack_env.of("chat.update")[-1].params["text"]


def test_a_slack_mention_through_the_django_view_is_one_trace_from_the_request(
    client,
    linked,  # noqa: F811
    slack_env,  # noqa: F811
    otlp_collector,
):
    response = post_event(client, mention("show my tickets", event_id="EvTrace2"))

    assert response.status_code == 200
    drain()
    spans = _assert_one_trace_from_the_request(
        otlp_collector, SkillRun.objects.get(channel="slack"), "POST /slack/events"
    )
    _assert_chain(spans, SLACK_CHAIN)


def test_a_whatsapp_message_handled_in_a_thread_is_one_trace_from_the_webhook(
    client,
    graph,  # noqa: F811
    otlp_collector,
    monkeypatch,
):
    # The real dispatch (the fixture handles in the test's thread): a background thread, as embedded.
    monkeypatch.setattr("bridges.whatsapp.views.whatsapp_dispatch", whatsapp_dispatch)

    response = post_webhook(client, webhook_payload(text_message("show my tickets")))

    assert response.status_code == 200
    for thread in threading.enumerate():
        if thread.name == "whatsapp-inbound":
            thread.join(30)  # it replies, then gives its database connection back
    assert len(graph.sent) == 1
    run = SkillRun.objects.get(channel="whatsapp")
    spans = _assert_one_trace_from_the_request(otlp_collector, run, "POST /whatsapp/webhook")
    _assert_chain(
        spans,
        (
            "POST /whatsapp/webhook",
            "whatsapp inbound",
            "run/skills.skill_run_execute",
            "skill run",
            "invoke_agent my-tickets",
            "execute_tool list_my_tickets",
        ),
    )
