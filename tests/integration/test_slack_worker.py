"""Production's Slack path end to end: the real ASGI app acks, a real Celery worker answers in the thread."""

import json
import time
import uuid

import pytest
from asgiref.sync import async_to_sync

from aspora.asgi import application
from bridges.models import SlackEventReceipt, SlackMessage
from bridges.slack import blocks
from bridges.slack.app import slack_app_reset
from domains.ecm.demo import ecm_demo_seed
from skills.models import Domain, RunStatus, SkillRun
from skills.registry import packs_sync
from skills.services import domain_grants_apply
from tenants.demo import demo_seed
from tenants.models import ChannelIdentity, User
from tests.asgi import asgi_request
from tests.bridges.conftest import BOT_TOKEN, SIGNING_SECRET, mention, signature
from tests.slack_loopback import TEAM_ID, SlackWebAPI

pytestmark = pytest.mark.services


@pytest.fixture
def slack_world(start_worker, monkeypatch):
    """The demo world, sarah linked, a loopback Slack, and one solo worker with the bridge switched on."""
    demo_seed(password="demo-pw-for-tests")
    packs_sync()
    for domain in Domain.objects.all():
        domain_grants_apply(domain=domain)
    ecm_demo_seed(count=40)
    ChannelIdentity.objects.create(
        provider="slack", workspace=TEAM_ID, external_user_id="USARAH", user=User.objects.get(username="sarah")
    )
    with SlackWebAPI() as api:
        env = {
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_API_URL": api.base_url,
            "SLACK_UPDATE_INTERVAL": "0.05",
            "ASPORA_MODEL": "",
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        slack_app_reset()
        # One process: a follower that held it while its run waited in the queue would never see an answer.
        start_worker(pool="solo", env=env, name="slack")
        yield api
    slack_app_reset()


def _post(payload: dict) -> dict:
    body = json.dumps(payload)
    timestamp = int(time.time())
    headers = [
        (b"content-type", b"application/json"),
        (b"x-slack-request-timestamp", str(timestamp).encode()),
        (b"x-slack-signature", signature(body, timestamp).encode()),
    ]
    return async_to_sync(asgi_request)(
        application, "POST", "/slack/events", body=body.encode(), headers=headers, timeout=5
    )


def _answered(api) -> bool:
    edits = api.of("chat.update")
    return bool(edits) and "#1042" in edits[-1].params.get("text", "") and not edits[-1].params["text"].endswith(" …")


def test_a_signed_mention_is_acked_by_the_asgi_app_and_answered_in_its_thread_by_a_worker(slack_world):
    event_id = f"EvWorker{uuid.uuid4().hex[:12]}"  # Redis remembers deliveries across test runs
    payload = mention("show my tickets", event_id=event_id, ts="1700000123.000200")

    started = time.monotonic()
    response = _post(payload)
    acked = time.monotonic() - started

    assert (response["status"], response["body"]) == (200, b"")
    assert acked < 3.0
    assert slack_world.wait_for(lambda api: api.of("chat.postMessage"), timeout=30), "no status message"
    status = slack_world.of("chat.postMessage")[0]
    assert (status.params["channel"], status.params["thread_ts"]) == ("C0OPS", "1700000123.000200")
    assert status.params["text"] == blocks.WORKING_TEXT
    assert slack_world.wait_for(_answered, timeout=60), (
        f"no answer in the thread; Slack saw: {[(c.method, c.params.get('text')) for c in slack_world.calls]}"
    )
    answer = slack_world.of("chat.update")[-1].params
    assert (answer["channel"], answer["ts"]) == ("C0OPS", SlackMessage.objects.get(key=f"status:{event_id}").ts)
    assert "_Answered by Aspora's offline model" in answer["text"]
    run = SkillRun.objects.select_related("user").get()
    assert (run.user.username, run.channel, run.status) == ("sarah", "slack", RunStatus.SUCCEEDED)
    assert SlackEventReceipt.objects.get(event_id=event_id).run == run

    # A retry of the same delivery is acknowledged and dropped: Redis remembers it across processes.
    retry = _post(payload)
    assert retry["status"] == 200
    time.sleep(1.0)
    assert SkillRun.objects.count() == 1
    assert len(slack_world.of("chat.postMessage")) == 1
