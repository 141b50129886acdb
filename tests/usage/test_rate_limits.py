"""Per-person rate limits on every front door: a clear refusal, 429 + Retry-After on HTTP, a reply in chat."""

import time

import pytest
from asgiref.sync import async_to_sync

import usage.services
from skills.models import RunStatus, SkillRun
from skills.services import skill_run_start
from tenants.context import Channel
from tenants.models import User
from tests.bridges.conftest import drain, linked, mention, post_event, slack_api, slack_env  # noqa: F401
from tests.skills.conftest import context_for, demo  # noqa: F401
from tests.usage.doors import api_ask, console_asks
from tests.whatsapp.conftest import graph, post_webhook, text_message, webhook_payload  # noqa: F401
from usage.services import RateLimitedError, rate_limit_hit

REFUSAL = "You have asked 2 times in the last minute, the most allowed here. Try again in "


@pytest.fixture
def two_per_minute(settings, monkeypatch):
    settings.ASPORA_RATE_LIMITS = {"web": 2, "api": 2, "slack": 2, "whatsapp": 2}
    # Windows are calendar minutes: a test's asks must not straddle one, however slow the machine.
    opened = (int(time.time()) // 60 + 1) * 60 + 5

    class _Clock:
        @staticmethod
        def time() -> float:
            return opened

    monkeypatch.setattr(usage.services, "time", _Clock)


def test_the_third_api_ask_in_a_minute_is_429_with_retry_after(world, client, two_per_minute):
    client.force_login(User.objects.get(username="sarah"))

    statuses = [api_ask(client).status_code for _ in range(3)]

    assert statuses == [202, 202, 429]
    refused = api_ask(client)
    assert refused.status_code == 429
    assert refused["Content-Type"] == "application/problem+json"
    retry_after = int(refused["Retry-After"])
    assert 1 <= retry_after <= 60
    problem = refused.json()
    assert problem["detail"] == f"{REFUSAL}{retry_after} s."
    assert (problem["retry_after"], problem["limit_per_minute"]) == (retry_after, 2)
    assert SkillRun.objects.filter(user__username="sarah", status=RunStatus.SUCCEEDED).count() == 2


def test_one_persons_limit_is_not_anothers(world, client, two_per_minute):
    client.force_login(User.objects.get(username="sarah"))
    for _ in range(3):
        api_ask(client)
    client.force_login(User.objects.get(username="amir"))

    assert api_ask(client).status_code == 202


def test_the_console_says_why_the_third_ask_was_refused(world, two_per_minute):
    replies = async_to_sync(console_asks)("sarah", "/my-tickets", "/my-tickets", "/my-tickets")

    assert [reply["event"] for reply in replies] == ["run.accepted", "run.accepted", "run.refused"]
    assert replies[2]["message"].startswith(REFUSAL)


def test_a_whatsapp_flood_gets_a_reply_and_a_200_never_a_retry(client, graph, two_per_minute):  # noqa: F811
    responses = [
        post_webhook(client, webhook_payload(text_message("show my tickets", message_id=f"wamid.{n}")))
        for n in range(3)
    ]

    assert [response.status_code for response in responses] == [200, 200, 200]
    bodies = [message["text"]["body"] for message in graph.sent]
    assert len(bodies) == 3
    assert bodies[2].startswith(REFUSAL)
    assert SkillRun.objects.filter(channel="whatsapp", status=RunStatus.SUCCEEDED).count() == 2


def test_a_slack_flood_is_acked_and_answered_in_the_thread(client, linked, slack_env, two_per_minute):  # noqa: F811
    responses = [
        post_event(client, mention("show my tickets", event_id=f"Ev{n}", ts=f"1699999999.00010{n}")) for n in range(3)
    ]
    drain()

    assert [response.status_code for response in responses] == [200, 200, 200]
    texts = [call.params.get("text", "") for call in slack_env.of("chat.update")]
    assert any(text.startswith(f":warning: {REFUSAL}") for text in texts)
    assert SkillRun.objects.filter(channel="slack", status=RunStatus.SUCCEEDED).count() == 2


def test_manage_py_ask_is_not_limited(world, two_per_minute):
    runs = [
        skill_run_start(
            context=context_for("sarah", Channel.TERMINAL), message="show my tickets", skill_name="my-tickets"
        )
        for _ in range(4)
    ]

    assert len({run.pk for run in runs}) == 4


def test_a_new_minute_opens_a_new_window(world, settings):
    settings.ASPORA_RATE_LIMITS = {"api": 1}
    sarah = User.objects.get(username="sarah")
    rate_limit_hit(user=sarah, channel="api", now=120.0)
    with pytest.raises(RateLimitedError) as refused:
        rate_limit_hit(user=sarah, channel="api", now=170.5)
    assert refused.value.extra["retry_after"] == 10  # the window ends at 180 s

    rate_limit_hit(user=sarah, channel="api", now=180.0)  # does not raise


def test_a_limit_of_zero_switches_a_door_off(world, settings):
    settings.ASPORA_RATE_LIMITS = {"api": 0}
    sarah = User.objects.get(username="sarah")
    for _ in range(50):
        rate_limit_hit(user=sarah, channel="api")
