"""Production mode: the trace crosses the Redis broker in the task's headers into a prefork worker,
whose spans reach the collector over OTLP/HTTP, and the run keeps the caller's trace id."""

import json
import time

import pytest

from aspora.celery import app as celery_app
from skills.models import RunStatus, SkillRun
from tenants.models import User
from tenants.services import api_token_create

pytestmark = pytest.mark.services

CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{CALLER_TRACE}-b7ad6b7169203331-01"


def test_one_trace_from_the_request_through_the_broker_to_the_workers_tool_call(
    demo, otlp_collector, start_worker, client
):
    celery_app.conf.task_always_eager = False  # the demo was seeded eagerly; runs now cross the broker
    worker = start_worker(
        pool="prefork",
        env={"OTEL_EXPORTER_OTLP_ENDPOINT": otlp_collector.base_url, "OTEL_BSP_SCHEDULE_DELAY": "100"},
    )
    _, raw = api_token_create(user=User.objects.get(username="sarah"), name="trace-test")
    response = client.post(
        "/api/runs",
        {"message": "show my tickets", "skill": "my-tickets"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {raw}", "traceparent": TRACEPARENT},
    )
    assert response.status_code == 202
    run_id = response.json()["id"]
    deadline = time.monotonic() + 60
    while (run := SkillRun.objects.get(pk=run_id)).status != RunStatus.SUCCEEDED:
        assert run.status in (RunStatus.PENDING, RunStatus.RUNNING) and time.monotonic() < deadline, run.error
        time.sleep(0.2)
    assert run.trace_id == CALLER_TRACE

    spans = otlp_collector.wait_for(
        CALLER_TRACE, {"skill run", "invoke_agent my-tickets", "execute_tool list_my_tickets"}
    )
    by_name = {span.name: span for span in spans}
    request = next(span for span in spans if span.name.startswith("POST /api/"))
    publish = by_name["apply_async/skills.skill_run_execute"]
    task = by_name["run/skills.skill_run_execute"]
    agent = by_name["invoke_agent my-tickets"]
    model = next(span for span in spans if span.name.startswith("chat "))

    assert request.parent_span_id == "b7ad6b7169203331"
    assert publish.parent_span_id == request.span_id
    assert task.parent_span_id == publish.span_id  # across the broker, from the task's headers
    assert by_name["skill run"].parent_span_id == task.span_id
    assert agent.parent_span_id == by_name["skill run"].span_id
    assert model.parent_span_id == agent.span_id
    assert by_name["execute_tool list_my_tickets"].parent_span_id == agent.span_id
    assert b"show my tickets" not in otlp_collector.raw()

    # The worker's logs are JSON lines, and those written inside the run name its trace.
    records = [json.loads(line) for line in worker.log.read_text().splitlines() if line.startswith("{")]
    traced = [record for record in records if record.get("trace_id") == CALLER_TRACE]
    assert traced, records[-5:]
    assert {record["span_id"] for record in traced} <= {span.span_id for span in spans}


def test_a_slack_mention_is_one_trace_from_the_asgi_ack_through_the_broker_to_the_workers_run(
    demo, otlp_collector, start_worker, monkeypatch
):
    from asgiref.sync import async_to_sync

    from aspora.asgi import application
    from bridges.slack.app import slack_app_reset
    from tenants.models import ChannelIdentity
    from tests.asgi import asgi_request
    from tests.bridges.conftest import BOT_TOKEN, SIGNING_SECRET, mention, signature
    from tests.slack_loopback import TEAM_ID, SlackWebAPI

    celery_app.conf.task_always_eager = False
    ChannelIdentity.objects.create(
        provider="slack", workspace=TEAM_ID, external_user_id="USARAH", user=User.objects.get(username="sarah")
    )
    with SlackWebAPI() as slack:
        env = {
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_API_URL": slack.base_url,
            "SLACK_UPDATE_INTERVAL": "0.05",
            "ASPORA_MODEL": "",
        }
        for name, env_value in env.items():
            monkeypatch.setenv(name, env_value)
        slack_app_reset()
        start_worker(
            pool="solo",
            env={**env, "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_collector.base_url, "OTEL_BSP_SCHEDULE_DELAY": "100"},
        )
        body = json.dumps(mention("show my tickets", event_id=f"EvTraceWorker{time.time_ns()}"))
        timestamp = int(time.time())
        headers = [
            (b"content-type", b"application/json"),
            (b"x-slack-request-timestamp", str(timestamp).encode()),
            (b"x-slack-signature", signature(body, timestamp).encode()),
        ]
        response = async_to_sync(asgi_request)(
            application, "POST", "/slack/events", body=body.encode(), headers=headers
        )
        assert response["status"] == 200
        deadline = time.monotonic() + 60
        while not (run := SkillRun.objects.filter(channel="slack").first()) or run.status != RunStatus.SUCCEEDED:
            assert time.monotonic() < deadline, run and run.error
            time.sleep(0.2)
    slack_app_reset()

    spans = otlp_collector.wait_for(run.trace_id, {"slack event job", "skill run", "execute_tool list_my_tickets"})
    by_name = {span.name: span for span in spans}
    request = by_name["POST /slack/events"]
    assert request.parent_span_id == ""  # the trace starts at Slack's request, in the web process
    # The request's job crosses the broker; the follower's later steps are queued by the job in turn.
    publish = next(
        s for s in spans if s.name == "apply_async/bridges.slack_job" and s.parent_span_id == request.span_id
    )
    job_task = next(s for s in spans if s.name == "run/bridges.slack_job" and s.parent_span_id == publish.span_id)
    assert by_name["slack request job"].parent_span_id == job_task.span_id
    assert by_name["slack event job"].parent_span_id == by_name["slack request job"].span_id
    run_task = by_name["run/skills.skill_run_execute"]
    assert by_name["apply_async/skills.skill_run_execute"].parent_span_id == by_name["slack event job"].span_id
    assert run_task.parent_span_id == by_name["apply_async/skills.skill_run_execute"].span_id
    assert by_name["skill run"].parent_span_id == run_task.span_id
