import json
import time

from bridges.models import SlackEventReceipt, SlackMessage
from bridges.slack import blocks
from skills.models import RunStatus, SkillRun
from tests.bridges.conftest import drain, mention, post_event


def _texts(api, method: str) -> list[str]:
    return [call.params.get("text", "") for call in api.of(method)]


def _last_answer(api) -> str:
    update = api.of("chat.update")[-1].params
    return update["text"] + json.dumps(update.get("blocks", []))


def test_mention_by_linked_user_acks_fast_and_answers_in_the_thread(client, linked, slack_env):
    started = time.monotonic()
    response = post_event(client, mention("show my tickets"))
    acked = time.monotonic() - started

    assert response.status_code == 200
    assert acked < 3.0  # Slack's limit; the figures are in bench/slack_ack.py
    drain()
    status = slack_env.of("chat.postMessage")[0]
    assert status.params["channel"] == "C0OPS"
    assert status.params["thread_ts"] == "1699999999.000100"
    assert status.params["text"] == blocks.WORKING_TEXT
    assert status.at - started < 3.0
    assert "#1042" in _last_answer(slack_env)
    assert {call.token for call in slack_env.calls} == {"xoxb-test-bot-token"}
    run = SkillRun.objects.get()
    assert (run.user.username, run.channel, run.status) == ("sarah", "slack", RunStatus.SUCCEEDED)
    assert SlackEventReceipt.objects.get(event_id="Ev0001").run == run


def test_a_forged_signature_is_refused(client, linked, slack_env):
    response = post_event(client, mention("show my tickets"), secret="not-the-signing-secret")

    assert response.status_code == 401
    drain()
    assert slack_env.calls == []
    assert SkillRun.objects.count() == 0


def test_a_stale_timestamp_is_refused(client, linked, slack_env):
    response = post_event(client, mention("show my tickets"), timestamp=int(time.time()) - 6 * 60)

    assert response.status_code == 401
    drain()
    assert SkillRun.objects.count() == 0


def test_a_retried_event_never_starts_a_second_run(client, linked, slack_env):
    assert post_event(client, mention("show my tickets")).status_code == 200
    drain()

    retry = post_event(client, mention("show my tickets"), HTTP_X_SLACK_RETRY_NUM="1", HTTP_X_SLACK_RETRY_REASON="x")
    replay = post_event(client, mention("show my tickets"))

    assert (retry.status_code, replay.status_code) == (200, 200)
    drain()
    assert SkillRun.objects.count() == 1
    assert len(slack_env.of("chat.postMessage")) == 1
    assert SlackEventReceipt.objects.get(event_id="Ev0001").outcome == "run"


def test_an_event_whose_first_delivery_failed_is_handled_on_retry(client, linked, slack_env, monkeypatch):
    from bridges.slack import jobs

    real_start, attempts = jobs.skill_run_start, []

    def flaky_start(**kwargs):
        attempts.append(kwargs["message"])
        if len(attempts) == 1:
            raise ConnectionError("database went away")
        return real_start(**kwargs)

    monkeypatch.setattr(jobs, "skill_run_start", flaky_start)
    post_event(client, mention("show my tickets"))
    drain()
    assert SkillRun.objects.count() == 0

    post_event(client, mention("show my tickets"), HTTP_X_SLACK_RETRY_NUM="1", HTTP_X_SLACK_RETRY_REASON="http_error")
    drain()

    assert attempts == ["show my tickets", "show my tickets"]
    assert SkillRun.objects.get().status == RunStatus.SUCCEEDED
    assert len(slack_env.of("chat.postMessage")) == 1  # the status message of the first try was reused
    assert "#1042" in _last_answer(slack_env)
    assert SlackEventReceipt.objects.get(event_id="Ev0001").deliveries == 2


def test_an_unlinked_user_gets_a_link_not_a_run(client, linked, slack_env):
    post_event(client, mention("show my tickets", user="URAJ"))
    drain()

    assert SkillRun.objects.count() == 0
    assert slack_env.of("chat.postMessage") == []
    (offer,) = slack_env.of("chat.postEphemeral")
    assert offer.params["user"] == "URAJ"
    assert "https://aspora.example/link/slack/" in offer.params["text"]
    assert SlackEventReceipt.objects.get().outcome == "link"


def test_a_direct_message_is_answered_and_bot_echoes_are_ignored(client, linked, slack_env):
    dm = mention("show my tickets", event_id="EvDM1")
    dm["event"].update({"type": "message", "channel_type": "im", "channel": "D0SARAH", "text": "show my tickets"})
    echo = mention("echo", event_id="EvDM2")
    echo["event"].update({"type": "message", "channel_type": "im", "channel": "D0SARAH", "bot_id": "BBOT"})

    assert post_event(client, dm).status_code == 200
    assert post_event(client, echo).status_code == 200
    drain()

    assert SkillRun.objects.count() == 1
    assert slack_env.of("chat.postMessage")[0].params["channel"] == "D0SARAH"
    assert "#1042" in _last_answer(slack_env)


def test_a_429_from_chat_update_is_retried_after_retry_after(client, linked, slack_env):
    slack_env.fail("chat.update", status=429, retry_after=1)

    post_event(client, mention("show my tickets"))
    drain()

    updates = slack_env.of("chat.update")
    assert updates[0].status == 429
    assert updates[1].status == 200
    assert updates[1].at - updates[0].at >= 1.0
    assert "#1042" in _last_answer(slack_env)


def test_streaming_mode_streams_the_answer_into_the_thread(client, linked, slack_env, monkeypatch):
    monkeypatch.setenv("SLACK_STREAMING", "1")

    post_event(client, mention("show my tickets"))
    drain()

    (start,) = slack_env.of("chat.startStream")
    assert start.params["thread_ts"] == "1699999999.000100"
    assert start.params["recipient_user_id"] == "USARAH"
    streamed = start.params.get("markdown_text", "") + "".join(
        call.params.get("markdown_text", "") for call in slack_env.of("chat.appendStream")
    )
    assert "#1042" in streamed
    assert len(slack_env.of("chat.stopStream")) == 1
    assert slack_env.of("chat.update")[-1].params["text"] == ":white_check_mark: Answered in this thread."


def test_streaming_falls_back_to_chat_update_where_slack_refuses_it(client, linked, slack_env, monkeypatch):
    monkeypatch.setenv("SLACK_STREAMING", "1")
    slack_env.fail("chat.startStream", status=200, error="method_not_supported_for_channel_type", retry_after=None)

    post_event(client, mention("show my tickets"))
    drain()

    assert "#1042" in _last_answer(slack_env)


def test_without_configuration_the_endpoint_answers_503(client, db, monkeypatch):
    from bridges.slack.app import slack_app_reset

    for name in ("SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN", "SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    slack_app_reset()

    response = post_event(client, mention("show my tickets"))

    assert response.status_code == 503
    assert response.json()["error"] == "slack_not_configured"
    assert "SLACK_SIGNING_SECRET" in response.json()["message"]


def test_secrets_never_reach_the_database_or_the_logs(client, linked, slack_env, caplog):
    from django.db import connection

    caplog.set_level("DEBUG")
    post_event(client, mention("show my tickets"))
    drain()

    assert "test-signing-secret" not in caplog.text and "xoxb-test-bot-token" not in caplog.text
    with connection.cursor() as cursor:
        for model in (SlackEventReceipt, SlackMessage, SkillRun):
            cursor.execute(f"SELECT * FROM {model._meta.db_table}")  # noqa: S608 - table names from models
            dump = repr(cursor.fetchall())
            assert "test-signing-secret" not in dump and "xoxb-test-bot-token" not in dump


def test_a_manager_hears_about_an_escalation_in_a_slack_direct_message(linked, slack_env):
    from tests.domains.helpers import ask

    ask("sarah", "escalate ticket 1043 because customs has held it for a week")
    drain()

    [opened] = slack_env.of("conversations.open")
    assert opened.params["users"] == "UOMAR"
    dm = next(call for call in slack_env.of("chat.postMessage") if "escalated by" in call.params["text"])
    assert dm.params["text"] == (
        "*Ticket #1043 escalated by Sarah Khan*\ncustoms has held it for a week\n"
        "<https://aspora.example/ecm/tickets/1043/|Open in Aspora>"
    )
