"""The thin ack path of /slack/events: what is refused and how, and what is queued for bolt."""

import json
import time

import pytest

from bridges.slack import dispatch
from bridges.slack.ack import REPLAY_WINDOW_SECONDS, slack_delivery_key
from bridges.slack.app import slack_app_reset
from skills.models import SkillRun
from tests.bridges.conftest import BOT_TOKEN, SIGNING_SECRET, drain, mention, post_event, post_form, slack_post


@pytest.fixture
def queued(monkeypatch, slack_env):
    """Jobs the ack path queued, recorded and still run."""
    jobs: list[tuple[str, dict]] = []
    submit = dispatch.slack_job_submit

    def record(*, kind, body):
        jobs.append((kind, body))
        submit(kind=kind, body=body)

    monkeypatch.setattr(dispatch, "slack_job_submit", record)
    return jobs


def test_url_verification_is_answered_with_the_challenge_and_queues_nothing(client, db, queued, slack_env):
    response = post_event(client, {"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                                   "type": "url_verification"})  # fmt: skip

    assert response.status_code == 200
    assert response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}
    assert queued == [] and slack_env.calls == []


def test_ssl_check_is_acknowledged_and_queues_nothing(client, db, queued):
    response = post_form(client, {"ssl_check": "1", "token": "x"})

    assert (response.status_code, response.content) == (200, b"")
    assert queued == []


def test_unsigned_forged_and_stale_requests_answer_401_and_queue_nothing(client, db, queued):
    body = json.dumps(mention("show my tickets"))
    unsigned = client.post("/slack/events", data=body, content_type="application/json")
    forged = post_event(client, mention("show my tickets"), secret="not-the-signing-secret")
    stale = post_event(client, mention("show my tickets"), timestamp=int(time.time()) - REPLAY_WINDOW_SECONDS - 5)
    future = post_event(client, mention("show my tickets"), timestamp=int(time.time()) + REPLAY_WINDOW_SECONDS + 5)
    garbled = client.post(
        "/slack/events", data=body, content_type="application/json",
        HTTP_X_SLACK_REQUEST_TIMESTAMP="yesterday", HTTP_X_SLACK_SIGNATURE="v0=00",
    )  # fmt: skip

    assert [r.status_code for r in (unsigned, forged, stale, future, garbled)] == [401] * 5
    assert [r.json()["error"] for r in (unsigned, forged, stale, future, garbled)] == [
        "unsigned", "invalid_signature", "stale_timestamp", "stale_timestamp", "bad_timestamp",
    ]  # fmt: skip
    assert "five minutes" in stale.json()["message"]
    assert queued == []


def test_signed_but_malformed_bodies_answer_400_and_say_what_is_wrong(client, db, queued):
    not_json = slack_post(client, "{not json", content_type="application/json")
    not_object = slack_post(client, "[1, 2]", content_type="application/json")
    no_event_id = slack_post(
        client, json.dumps({"type": "event_callback", "event": {}}), content_type="application/json"
    )
    bad_payload = post_form(client, {"payload": "{oops"})
    wrong_type = slack_post(client, "hello", content_type="text/plain")
    not_utf8 = client.post(
        "/slack/events", data=b"\xff\xfe", content_type="application/json",
        HTTP_X_SLACK_REQUEST_TIMESTAMP=str(int(time.time())),
        HTTP_X_SLACK_SIGNATURE=_raw_signature(b"\xff\xfe"),
    )  # fmt: skip

    responses = (not_json, not_object, no_event_id, bad_payload, wrong_type, not_utf8)
    assert [r.status_code for r in responses] == [400] * 6
    assert [r.json()["message"] for r in responses] == [
        "The request body is not valid JSON.",
        "The request body must be a JSON object.",
        "An event_callback needs an event_id and an event object.",
        "The form field `payload` is not valid JSON.",
        "Content-Type text/plain is not one Slack sends: expected application/json or "
        "application/x-www-form-urlencoded.",
        "The request body is not UTF-8.",
    ]
    assert queued == []


def _raw_signature(body: bytes) -> str:
    import hashlib
    import hmac

    base = f"v0:{int(time.time())}:".encode() + body
    return "v0=" + hmac.new(SIGNING_SECRET.encode(), base, hashlib.sha256).hexdigest()


def test_a_replayed_or_retried_delivery_is_queued_once(client, linked, queued, slack_env):
    first = post_event(client, mention("show my tickets"))
    replay = post_event(client, mention("show my tickets"))
    retry = post_event(client, mention("show my tickets"), HTTP_X_SLACK_RETRY_NUM="1", HTTP_X_SLACK_RETRY_REASON="x")
    drain()

    assert [r.status_code for r in (first, replay, retry)] == [200, 200, 200]
    requests = [body for kind, body in queued if kind == "request"]
    assert [job["key"] for job in requests] == ["event:Ev0001"]
    assert SkillRun.objects.count() == 1


def test_bolt_runs_in_the_job_with_the_raw_body_and_retry_headers(client, linked, queued, slack_env):
    event = mention("show my tickets", event_id="Ev0009")

    post_event(client, event, HTTP_X_SLACK_RETRY_NUM="2", HTTP_X_SLACK_RETRY_REASON="http_timeout")
    drain()

    [(kind, job)] = [entry for entry in queued if entry[0] == "request"]
    assert kind == "request"
    assert json.loads(job["body"]) == event
    assert job["headers"] == {
        "content-type": "application/json", "x-slack-retry-num": "2", "x-slack-retry-reason": "http_timeout",
    }  # fmt: skip
    assert "x-slack-signature" not in job["headers"]  # nothing in a job can be replayed at Slack's door
    assert SkillRun.objects.get().user.username == "sarah"


def test_the_ack_needs_no_database(client, monkeypatch, slack_api, settings):
    """No `db` fixture: any query on the ack path would fail this request."""
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_API_URL", slack_api.base_url)
    slack_app_reset()
    dispatch.slack_deliveries_forget_all()
    submitted = []
    monkeypatch.setattr(dispatch, "slack_job_submit", lambda **job: submitted.append(job))

    response = post_event(client, mention("show my tickets", event_id="EvNoDb"))

    assert response.status_code == 200
    assert [job["body"]["key"] for job in submitted] == ["event:EvNoDb"]


def test_delivery_keys_name_events_commands_and_interactions():
    assert slack_delivery_key({"type": "event_callback", "event_id": "Ev1", "event": {}}) == "event:Ev1"
    assert slack_delivery_key({"command": "/aspora", "trigger_id": "13345224609.738474920.8088930838d88f008e0"}) == (
        "command:13345224609.738474920.8088930838d88f008e0"
    )
    assert slack_delivery_key({"type": "block_actions", "trigger_id": "t-1"}) == "interaction:t-1"
    assert slack_delivery_key({"type": "app_rate_limited"}) == ""
