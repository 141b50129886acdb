import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from bridges.models import ChannelLinkToken, SlackInstallation, SlackOAuthState
from bridges.services import channel_link_token_create
from bridges.slack import blocks
from bridges.slack.socket_mode import Command as SlackSocketCommand
from bridges.slack.stores import DjangoInstallationStore, DjangoOAuthStateStore
from skills.models import RunStatus, SkillRun
from tenants.models import ChannelIdentity, User
from tests.bridges.conftest import drain, mention, post_event, post_form
from tests.slack_loopback import TEAM_ID


def _press(client, *, run_id: str, slack_user: str, action_id: str = blocks.CONFIRM_ACTION, message_ts="1700000009.1"):
    payload = {
        "type": "block_actions",
        "user": {"id": slack_user, "team_id": TEAM_ID},
        "team": {"id": TEAM_ID},
        "api_app_id": "A0001",
        "trigger_id": f"trigger-{slack_user}",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": "C0OPS", "thread_ts": "1699.1"},
        "channel": {"id": "C0OPS"},
        "message": {"ts": message_ts, "thread_ts": "1699.1"},
        "actions": [{"type": "button", "action_id": action_id, "block_id": "aspora_confirmation", "value": run_id}],
    }
    return post_form(client, {"payload": json.dumps(payload)})


def _slash(client, api, text: str, *, user: str = "USARAH", trigger: str = "trig-1"):
    form = {
        "token": "legacy",
        "team_id": TEAM_ID,
        "user_id": user,
        "channel_id": "C0OPS",
        "command": "/aspora",
        "text": text,
        "response_url": api.response_url(trigger),
        "trigger_id": trigger,
    }
    return post_form(client, form)


def _awaiting_escalation(client, api) -> SkillRun:
    post_event(client, mention("escalate ticket 1043 because customs"))
    drain()
    run = SkillRun.objects.get()
    assert run.status == RunStatus.AWAITING_CONFIRMATION
    return run


def test_a_run_needing_confirmation_posts_confirm_and_reject_buttons(client, linked, slack_env):
    run = _awaiting_escalation(client, slack_env)

    prompt = slack_env.of("chat.postMessage")[-1].params
    actions = next(block for block in prompt["blocks"] if block["type"] == "actions")
    assert [(b["action_id"], b["value"]) for b in actions["elements"]] == [
        (blocks.CONFIRM_ACTION, str(run.id)),
        (blocks.REJECT_ACTION, str(run.id)),
    ]
    assert prompt["thread_ts"] == "1699999999.000100"
    assert "escalate_ticket" in json.dumps(prompt["blocks"])


def test_confirm_pressed_by_the_asker_completes_the_run(client, linked, slack_env):
    run = _awaiting_escalation(client, slack_env)

    response = _press(client, run_id=str(run.id), slack_user="USARAH")

    assert response.status_code == 200
    drain()
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    decided = next(call for call in slack_env.of("chat.update") if call.params["ts"] == "1700000009.1")
    assert "Confirmed by <@USARAH>" in json.dumps(decided.params["blocks"])
    assert "1043" in slack_env.of("chat.update")[-1].params["text"]


def test_confirm_pressed_by_someone_else_is_refused(client, linked, slack_env):
    run = _awaiting_escalation(client, slack_env)

    assert _press(client, run_id=str(run.id), slack_user="UOMAR").status_code == 200
    assert _press(client, run_id=str(run.id), slack_user="UNOBODY").status_code == 200
    drain()

    run.refresh_from_db()
    assert run.status == RunStatus.AWAITING_CONFIRMATION
    refusals = [call.params for call in slack_env.of("chat.postEphemeral")]
    assert sorted((r["user"], r["text"]) for r in refusals) == [
        ("UNOBODY", "Only the person who asked can confirm or reject this."),
        ("UOMAR", "Only the person who asked can confirm or reject this."),
    ]


def test_reject_tells_the_model_the_asker_declined(client, linked, slack_env):
    run = _awaiting_escalation(client, slack_env)

    _press(client, run_id=str(run.id), slack_user="USARAH", action_id=blocks.REJECT_ACTION)
    drain()

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert run.events.filter(type="run.confirmed", data__approved=False).exists()


def test_slash_help_lists_what_the_person_can_ask(client, linked, slack_env):
    assert _slash(client, slack_env, "help").status_code == 200
    drain()

    (reply,) = slack_env.of("response/trig-1")
    assert reply.params["response_type"] == "ephemeral"
    assert "*my-tickets*" in reply.params["text"]
    assert "show my tickets" in reply.params["text"].lower() or "e.g." in reply.params["text"]
    assert SkillRun.objects.count() == 0


def test_slash_command_naming_a_skill_runs_it_in_a_thread(client, linked, slack_env):
    _slash(client, slack_env, "my-tickets")
    drain()

    run = SkillRun.objects.get()
    assert (run.skill.name, run.routed, run.status) == ("my-tickets", False, RunStatus.SUCCEEDED)
    parent, status = slack_env.of("chat.postMessage")[:2]
    assert parent.params["text"] == "<@USARAH> asked: my-tickets"
    assert status.params["thread_ts"] == "1700000001.000100"
    assert "#1042" in slack_env.of("chat.update")[-1].params["text"]


def test_slash_command_free_text_is_routed(client, linked, slack_env):
    _slash(client, slack_env, "show my tickets")
    drain()

    run = SkillRun.objects.get()
    assert (run.skill.name, run.routed) == ("my-tickets", True)


def test_slash_command_naming_a_skill_the_person_may_not_run_is_refused_clearly(client, linked, slack_env):
    _slash(client, slack_env, "no-such-skill please")
    drain()

    run = SkillRun.objects.get()
    assert run.status == RunStatus.REFUSED
    assert "There is no skill named 'no-such-skill'" in slack_env.of("chat.update")[-1].params["text"]


# --- linking --------------------------------------------------------------------------------


def _link_url_from(api) -> str:
    text = api.of("chat.postEphemeral")[-1].params["text"]
    return "/" + text.split("https://aspora.example/", 1)[1].split("|", 1)[0]


def test_the_link_flow_links_a_slack_user_once(client, linked, slack_env):
    post_event(client, mention("show my tickets", user="URAJ"))
    drain()
    url = _link_url_from(slack_env)
    raj = User.objects.get(username="raj")

    assert client.get(url).status_code == 302  # sign in first
    client.force_login(raj)
    page = client.get(url)
    assert page.status_code == 200 and b"URAJ" in page.content
    assert client.post(url).status_code == 200
    assert ChannelIdentity.objects.get(external_user_id="URAJ").user == raj

    again = client.post(url)
    assert again.status_code == 409 and b"already been used" in again.content

    post_event(client, mention("show my tickets", user="URAJ", event_id="Ev0002"))
    drain()
    assert SkillRun.objects.get().user == raj


def test_an_expired_link_is_refused(client, linked):
    token, raw = channel_link_token_create(provider="slack", workspace=TEAM_ID, external_user_id="URAJ", ttl_seconds=60)
    ChannelLinkToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    client.force_login(User.objects.get(username="raj"))

    response = client.post(f"/link/slack/{raw}/")

    assert response.status_code == 409 and b"expired" in response.content
    assert not ChannelIdentity.objects.filter(external_user_id="URAJ").exists()


def test_a_slack_user_cannot_be_linked_to_two_portal_users(client, linked):
    _, first = channel_link_token_create(provider="slack", workspace=TEAM_ID, external_user_id="URAJ", ttl_seconds=600)
    _, second = channel_link_token_create(provider="slack", workspace=TEAM_ID, external_user_id="URAJ", ttl_seconds=600)
    client.force_login(User.objects.get(username="raj"))
    assert client.post(f"/link/slack/{first}/").status_code == 200

    client.force_login(User.objects.get(username="omar"))
    response = client.post(f"/link/slack/{second}/")

    assert response.status_code == 409 and b"already linked to another portal user" in response.content
    assert ChannelIdentity.objects.get(external_user_id="URAJ").user.username == "raj"


def test_link_tokens_are_stored_only_as_digests(linked):
    token, raw = channel_link_token_create(
        provider="slack", workspace=TEAM_ID, external_user_id="URAJ", ttl_seconds=600
    )

    assert raw not in token.digest and len(token.digest) == 64


# --- OAuth stores and Socket Mode -----------------------------------------------------------


def test_installation_store_round_trip(db):
    from slack_sdk.oauth.installation_store import Installation

    store = DjangoInstallationStore(client_id="111.222")
    store.save(
        Installation(
            app_id="A1", team_id="T0002", team_name="Second", user_id="U1", bot_token="xoxb-1", bot_user_id="UB"
        )
    )
    store.save(Installation(app_id="A1", team_id="T0002", user_id="U2", user_token="xoxp-2"))

    assert store.find_bot(enterprise_id=None, team_id="T0002").bot_token == "xoxb-1"
    latest = store.find_installation(enterprise_id=None, team_id="T0002")
    assert (latest.user_id, latest.bot_token) == ("U2", "xoxb-1")
    assert store.find_installation(enterprise_id=None, team_id="T0002", user_id="U1").bot_user_id == "UB"
    assert store.find_installation(enterprise_id=None, team_id="T9999") is None
    assert DjangoInstallationStore(client_id="other").find_bot(enterprise_id=None, team_id="T0002") is None

    store.delete_installation(enterprise_id=None, team_id="T0002", user_id="U2")
    assert SlackInstallation.objects.count() == 1
    store.delete_bot(enterprise_id=None, team_id="T0002")
    assert store.find_bot(enterprise_id=None, team_id="T0002") is None


def test_oauth_state_is_consumed_once_and_expires(db):
    store = DjangoOAuthStateStore(expiration_seconds=600)
    state = store.issue()

    assert store.consume(state) is True
    assert store.consume(state) is False
    stale = store.issue()
    SlackOAuthState.objects.filter(state=stale).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert store.consume(stale) is False


def test_oauth_install_and_callback_store_the_installation(client, transactional_db, slack_api, monkeypatch):
    from bridges.slack.app import slack_app_reset

    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s3cret")
    monkeypatch.setenv("SLACK_CLIENT_ID", "111.222")
    monkeypatch.setenv("SLACK_CLIENT_SECRET", "client-s3cret")
    monkeypatch.setenv("SLACK_API_URL", slack_api.base_url)
    slack_app_reset()
    try:
        install = client.get("/slack/install")
        assert install.status_code == 200
        state = SlackOAuthState.objects.get().state
        assert f"state={state}" in install.content.decode()

        client.cookies["slack-app-oauth-state"] = state
        callback = client.get(f"/slack/oauth_redirect?code=the-code&state={state}")

        assert callback.status_code == 200
        installation = SlackInstallation.objects.get()
        assert (installation.team_id, installation.client_id) == ("T0002", "111.222")
        assert slack_api.of("oauth.v2.access")[0].params["code"] == "the-code"
        bot = DjangoInstallationStore(client_id="111.222").find_bot(enterprise_id=None, team_id="T0002")
        assert bot.bot_token == "xoxb-installed"
    finally:
        slack_app_reset()


def test_slack_socket_refuses_without_an_app_token(monkeypatch):
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)

    with pytest.raises(CommandError, match="SLACK_APP_TOKEN is not set"):
        call_command(SlackSocketCommand())
