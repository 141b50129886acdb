import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

import pytest

from bridges.slack.app import slack_app_reset
from bridges.slack.dispatch import slack_deliveries_forget_all, slack_jobs_wait_idle
from tenants.models import ChannelIdentity, User
from tests.skills.conftest import demo, eager_tasks  # noqa: F401
from tests.slack_loopback import TEAM_ID, SlackWebAPI

SIGNING_SECRET = "test-signing-secret-0123456789"
BOT_TOKEN = "xoxb-test-bot-token"
SLACK_ENV = ("SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN", "SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "SLACK_APP_TOKEN")


def signature(body: str, timestamp: int, secret: str = SIGNING_SECRET) -> str:
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return f"v0={digest}"


def slack_post(client, body: str, *, content_type: str, timestamp: int | None = None, secret=SIGNING_SECRET, **headers):
    timestamp = int(time.time()) if timestamp is None else timestamp
    return client.post(
        "/slack/events",
        data=body,
        content_type=content_type,
        HTTP_X_SLACK_REQUEST_TIMESTAMP=str(timestamp),
        HTTP_X_SLACK_SIGNATURE=signature(body, timestamp, secret),
        **headers,
    )


def post_event(client, payload: dict, **kwargs):
    return slack_post(client, json.dumps(payload), content_type="application/json", **kwargs)


def post_form(client, form: dict, **kwargs):
    return slack_post(client, urlencode(form), content_type="application/x-www-form-urlencoded", **kwargs)


def mention(text: str, *, user: str = "USARAH", event_id: str = "Ev0001", ts: str = "1699999999.000100") -> dict:
    return {
        "token": "legacy-verification-token",
        "team_id": TEAM_ID,
        "api_app_id": "A0001",
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "event": {
            "type": "app_mention",
            "user": user,
            "text": f"<@UBOT> {text}",
            "ts": ts,
            "channel": "C0OPS",
            "event_ts": ts,
        },
    }


@pytest.fixture
def slack_api():
    with SlackWebAPI() as api:
        yield api


@pytest.fixture
def slack_env(monkeypatch, slack_api):
    """The bridge switched on against the loopback Web API; jobs are drained before the database is."""
    for name in SLACK_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_API_URL", slack_api.base_url)
    monkeypatch.setenv("SLACK_UPDATE_INTERVAL", "0.05")
    monkeypatch.setenv("ASPORA_PUBLIC_URL", "https://aspora.example")
    monkeypatch.delenv("SLACK_STREAMING", raising=False)
    slack_app_reset()
    slack_deliveries_forget_all()  # the tests reuse Slack's ids
    yield slack_api
    assert slack_jobs_wait_idle(timeout=60)
    slack_app_reset()


@pytest.fixture
def linked(demo):  # noqa: F811 - the imported fixture
    """sarah and omar have linked their Slack accounts; raj has not."""
    for username, slack_user in (("sarah", "USARAH"), ("omar", "UOMAR")):
        ChannelIdentity.objects.create(
            provider="slack", workspace=TEAM_ID, external_user_id=slack_user, user=User.objects.get(username=username)
        )


def drain() -> None:
    assert slack_jobs_wait_idle(timeout=60), "Slack jobs did not finish"
