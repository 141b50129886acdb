"""The work behind an acknowledged Slack request, run in a thread or a Celery task.

A `request` job carries the raw body the ack path verified; bolt parses and routes it here
(`bridges/slack/app.py`), and its listeners call the `event`, `command` or `action` job with the
parsed body. Jobs are safe to run twice (receipts, keyed posts, `skill_run_decide` refusing a
second decision) and never see the signing secret.
"""

import logging
import re
import threading
import time
from collections.abc import Callable

from django.core.exceptions import ValidationError
from django.db import close_old_connections, transaction
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from aspora.errors import ApplicationError
from aspora.observability.tracing import continued, in_this_trace
from bridges.models import SlackEventReceipt, SlackMessage
from bridges.services import channel_link_token_create, channel_link_url
from bridges.slack import blocks
from bridges.slack.client import slack_client_for
from bridges.slack.config import SlackConfig, slack_config
from bridges.slack.follow import FollowState, slack_run_follow
from bridges.slack.selectors import slack_message_last_for_run
from bridges.slack.services import (
    slack_message_post,
    slack_receipt_claim,
    slack_receipt_handled,
    slack_receipt_release,
)
from skills.models import SkillRun
from skills.packs import example_texts
from skills.selectors import skill_list_for_context, skill_run_get_for_user
from skills.services import skill_run_decide, skill_run_start
from tenants.context import Channel
from tenants.models import ChannelIdentity, User
from tenants.selectors import channel_identity_resolve
from tenants.services import asker_context_build

logger = logging.getLogger(__name__)
MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
SKILL_NAME = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)+$")
START_WAIT_SECONDS = 60
# A Celery worker's follower makes one pass and looks again a moment later, holding no process meanwhile:
# 0.2 s after a step that found events, doubling after each that found none, up to 1 s (Slack's edit pace).
FOLLOW_SLICE_SECONDS = 0.0
FOLLOW_RECHECK_SECONDS = 0.2
FOLLOW_RECHECK_MAX_SECONDS = 1.0


class SlackJobError(RuntimeError):
    pass


def slack_job_run(*, kind: str, body: dict) -> None:
    """Run one job in the trace of the request (or job) that queued it."""
    from bridges.slack.dispatch import TRACE_KEY
    from bridges.slack.notify import slack_notification_send

    jobs = {
        "request": _request_job,
        "event": _event_job,
        "command": _command_job,
        "action": _action_job,
        "follow": _follow_job,
        "notify": slack_notification_send,
    }
    body = dict(body)
    carrier = body.pop(TRACE_KEY, None)
    with continued(f"slack {kind} job", carrier=carrier, attributes={"aspora.slack.job": kind}):
        jobs[kind](body)


def _request_job(job: dict) -> None:
    """Hand a verified request to bolt; a listener that failed lets Slack's retry through."""
    from slack_bolt import BoltRequest

    from bridges.slack.app import slack_app
    from bridges.slack.dispatch import slack_delivery_forget

    app = slack_app()
    if app is None:
        logger.warning("Slack request dropped: the bridge is no longer configured in this process")
        return
    response = app.dispatch(BoltRequest(body=job["body"], headers=job["headers"]))
    if response.status >= 500:
        slack_delivery_forget(key=job["key"])
        raise SlackJobError(f"bolt answered {response.status} to Slack delivery {job['key'] or '(no key)'}")
    if response.status >= 400:
        logger.info("bolt answered %s to Slack delivery %s", response.status, job["key"] or "(no key)")


# --- helpers --------------------------------------------------------------------------------


def _slack_user(*, team_id: str, slack_user: str) -> User | None:
    return channel_identity_resolve(
        provider=ChannelIdentity.Provider.SLACK, workspace=team_id, external_user_id=slack_user
    )


def _in_background(start: Callable[[], SkillRun], record: Callable[[SkillRun], None]):
    """Call `start` in a thread and return once its transaction committed: (run, error, thread).

    On the embedded default the run executes in that thread right after the commit, so this one
    can follow its events meanwhile. `record` runs in the same transaction as the run's creation.
    """
    ready = threading.Event()
    box: dict = {}

    def target():
        try:
            with transaction.atomic():
                # Registered first, so it runs before the execution the service queues on commit.
                transaction.on_commit(ready.set)
                try:
                    box["run"] = start()
                except ApplicationError as exc:
                    box["error"] = exc
                else:
                    record(box["run"])
        except BaseException as exc:
            if "run" not in box and "error" not in box:
                box["crash"] = exc
            else:
                logger.exception("Slack run execution failed after start")
        finally:
            ready.set()
            close_old_connections()

    thread = threading.Thread(target=in_this_trace(target), name="slack-run", daemon=True)
    thread.start()
    ready.wait(START_WAIT_SECONDS)
    if "crash" in box:
        raise box["crash"]
    return box.get("run"), box.get("error"), thread


def _link_offer(*, config: SlackConfig, team_id: str, slack_user: str, say: Callable[[str], None]) -> None:
    provider = ChannelIdentity.Provider.SLACK
    _, raw = channel_link_token_create(
        provider=provider, workspace=team_id, external_user_id=slack_user, ttl_seconds=config.link_ttl_seconds
    )
    url = channel_link_url(provider=provider, raw=raw, public_url=config.public_url)
    minutes = max(1, config.link_ttl_seconds // 60)
    say(
        ":wave: Hi! I don't know who you are in Aspora yet. "
        f"<{url}|Link your Slack account> — sign in to the portal and confirm; the link works once, "
        f"for {minutes} minutes. Then ask me again."
    )


def _ephemeral(client: WebClient, *, channel: str, slack_user: str, thread_ts: str = "") -> Callable[[str], None]:
    def say(text: str) -> None:
        client.chat_postEphemeral(channel=channel, user=slack_user, text=text, thread_ts=thread_ts or None)

    return say


def _ask(
    *,
    client: WebClient,
    config: SlackConfig,
    receipt: SlackEventReceipt,
    user: User,
    team_id: str,
    slack_user: str,
    channel: str,
    thread_ts: str,
    text: str,
    skill_name: str | None = None,
) -> None:
    """Post the status message at once, start the run, follow it into the thread."""
    status = slack_message_post(
        client=client,
        key=f"status:{receipt.event_id}",
        channel=channel,
        thread_ts=thread_ts,
        text=blocks.WORKING_TEXT,
        team_id=team_id,
    )
    try:
        context = asker_context_build(user=user, channel=Channel.SLACK)
    except ApplicationError as exc:
        slack_message_post(client=client, key=status.key, channel=channel, text=f":warning: {exc.message}")
        slack_receipt_handled(receipt=receipt, outcome=SlackEventReceipt.Outcome.REFUSED)
        return

    def record(run: SkillRun) -> None:
        slack_receipt_handled(receipt=receipt, outcome=SlackEventReceipt.Outcome.RUN, run=run)

    run, error, thread = _in_background(
        lambda: skill_run_start(context=context, message=text, skill_name=skill_name), record
    )
    if error is not None:
        refused = SkillRun.objects.filter(pk=error.extra.get("run_id")).first()
        slack_receipt_handled(receipt=receipt, outcome=SlackEventReceipt.Outcome.REFUSED, run=refused)
        slack_message_post(client=client, key=status.key, channel=channel, text=f":warning: {error.message}")
        return
    try:
        _follow(client=client, run=run, message=status, config=config, team_id=team_id, slack_user=slack_user)
    finally:
        thread.join(config.run_timeout)


def _follow(
    *,
    client: WebClient,
    run: SkillRun,
    message: SlackMessage,
    config: SlackConfig,
    team_id: str,
    slack_user: str,
    state: FollowState | None = None,
) -> None:
    """Follow the run into Slack; in a Celery worker, slice by slice (see `follow.py`)."""
    from bridges.slack.dispatch import slack_job_submit, slack_jobs_in_process

    slice_seconds = None if slack_jobs_in_process() else FOLLOW_SLICE_SECONDS
    outcome = slack_run_follow(
        client=client,
        run=run,
        message=message,
        config=config,
        team_id=team_id,
        slack_user=slack_user,
        state=state,
        slice_seconds=slice_seconds,
    )
    if isinstance(outcome, FollowState):
        # Held back by the worker's timer, not in a process; a backlog of queued runs must not become
        # a flood of followers looking at them.
        backoff = min(FOLLOW_RECHECK_MAX_SECONDS, FOLLOW_RECHECK_SECONDS * 2 ** max(0, outcome.idle_steps - 1))
        countdown = round(max(backoff, outcome.not_before - time.time()), 3)
        slack_job_submit(kind="follow", body=outcome.as_job(), countdown=countdown)


def _follow_job(body: dict) -> None:
    state = FollowState(**body)
    message = SlackMessage.objects.filter(pk=state.message_id).first()
    run = SkillRun.objects.filter(pk=state.run_id).first()
    if message is None or run is None:
        logger.warning("Slack follower of run %s has nothing to follow any more", state.run_id)
        return
    _follow(
        client=slack_client_for(team_id=state.team_id),
        run=run,
        message=message,
        config=slack_config(),
        team_id=state.team_id,
        slack_user=state.slack_user,
        state=state,
    )


# --- events: mentions and direct messages ---------------------------------------------------


def _event_job(body: dict) -> None:
    event = body.get("event", {})
    team_id = body.get("team_id") or event.get("team", "")
    receipt = slack_receipt_claim(event_id=body["event_id"], team_id=team_id, kind="event")
    if receipt is None:
        logger.info("Slack event %s was handled already", body["event_id"])
        return
    try:
        _event_handle(body=body, event=event, team_id=team_id, receipt=receipt)
    except BaseException:
        slack_receipt_release(receipt=receipt)
        raise


def _event_handle(*, body: dict, event: dict, team_id: str, receipt: SlackEventReceipt) -> None:
    config = slack_config()
    client = slack_client_for(team_id=team_id, enterprise_id=body.get("enterprise_id"))
    slack_user, channel = event["user"], event["channel"]
    thread_ts = event.get("thread_ts") or event["ts"]
    text = MENTION.sub("", event.get("text", "")).strip()
    user = _slack_user(team_id=team_id, slack_user=slack_user)
    say = _ephemeral(client, channel=channel, slack_user=slack_user, thread_ts=thread_ts)
    if user is None:
        _link_offer(config=config, team_id=team_id, slack_user=slack_user, say=say)
        slack_receipt_handled(receipt=receipt, outcome=SlackEventReceipt.Outcome.LINK)
        return
    if not text:
        say("Ask me something, e.g. “show my tickets”, or use `/aspora help` to see what I can do.")
        slack_receipt_handled(receipt=receipt, outcome=SlackEventReceipt.Outcome.IGNORED)
        return
    _ask(
        client=client,
        config=config,
        receipt=receipt,
        user=user,
        team_id=team_id,
        slack_user=slack_user,
        channel=channel,
        thread_ts=thread_ts,
        text=text,
    )


# --- the /aspora slash command --------------------------------------------------------------


def _command_job(body: dict) -> None:
    team_id = body.get("team_id", "")
    key = f"command:{body.get('trigger_id') or body.get('response_url', '')[-60:]}"
    receipt = slack_receipt_claim(event_id=key, team_id=team_id, kind="command")
    if receipt is None:
        return
    try:
        _command_handle(body=body, team_id=team_id, receipt=receipt)
    except BaseException:
        slack_receipt_release(receipt=receipt)
        raise


def _command_handle(*, body: dict, team_id: str, receipt: SlackEventReceipt) -> None:
    config = slack_config()
    client = slack_client_for(team_id=team_id, enterprise_id=body.get("enterprise_id"))
    slack_user, channel, text = body["user_id"], body["channel_id"], body.get("text", "").strip()
    response_url = body.get("response_url")
    if response_url:

        def say(message: str) -> None:
            WebhookClient(response_url, timeout=10).send(text=message, response_type="ephemeral")

    else:
        say = _ephemeral(client, channel=channel, slack_user=slack_user)
    user = _slack_user(team_id=team_id, slack_user=slack_user)
    if user is None:
        _link_offer(config=config, team_id=team_id, slack_user=slack_user, say=say)
        slack_receipt_handled(receipt=receipt, outcome=SlackEventReceipt.Outcome.LINK)
        return
    try:
        context = asker_context_build(user=user, channel=Channel.SLACK)
    except ApplicationError as exc:
        say(f":warning: {exc.message}")
        slack_receipt_handled(receipt=receipt, outcome=SlackEventReceipt.Outcome.REFUSED)
        return
    if text.lower() in ("", "help"):
        skills = [
            (skill.name, skill.description, example_texts(skill.current_version.config))
            for skill in skill_list_for_context(context=context)
        ]
        say(blocks.help_text(skills=skills))
        slack_receipt_handled(receipt=receipt, outcome=SlackEventReceipt.Outcome.HELP)
        return
    first = text.split(maxsplit=1)[0]
    runnable = {skill.name for skill in skill_list_for_context(context=context)}
    # A first word shaped like a skill name names one (the service refuses clearly if it may not run).
    skill_name = first if first in runnable or SKILL_NAME.match(first) else None
    try:
        parent = slack_message_post(
            client=client,
            key=f"ask:{receipt.event_id}",
            channel=channel,
            text=f"<@{slack_user}> asked: {text}",
            team_id=team_id,
        )
    except SlackApiError as exc:
        if exc.response.get("error") not in ("not_in_channel", "channel_not_found"):
            raise
        # The bot is not in that conversation: answer in a direct message instead.
        channel = client.conversations_open(users=slack_user)["channel"]["id"]
        parent = slack_message_post(
            client=client, key=f"ask-dm:{receipt.event_id}", channel=channel, text=f"You asked: {text}"
        )
    _ask(
        client=client,
        config=config,
        receipt=receipt,
        user=user,
        team_id=team_id,
        slack_user=slack_user,
        channel=parent.channel,
        thread_ts=parent.ts,
        text=text,
        skill_name=skill_name,
    )


# --- Confirm / Reject buttons ---------------------------------------------------------------


def _action_job(body: dict) -> None:
    config = slack_config()
    action = body["actions"][0]
    approve = action["action_id"] == blocks.CONFIRM_ACTION
    slack_user = body["user"]["id"]
    team_id = body["user"].get("team_id") or body.get("team", {}).get("id", "")
    channel = body["channel"]["id"]
    container = body.get("container", {})
    message_ts = container.get("message_ts") or body.get("message", {}).get("ts")
    thread_ts = container.get("thread_ts") or body.get("message", {}).get("thread_ts") or message_ts
    client = slack_client_for(team_id=team_id, enterprise_id=(body.get("enterprise") or {}).get("id"))
    say = _ephemeral(client, channel=channel, slack_user=slack_user, thread_ts=thread_ts)
    user = _slack_user(team_id=team_id, slack_user=slack_user)
    run = None
    if user is not None:
        try:
            run = skill_run_get_for_user(user=user, run_id=action.get("value"))
        except (ValueError, ValidationError):
            logger.info("Slack action with a malformed run id")
    if run is None:
        say("Only the person who asked can confirm or reject this.")
        return
    calls = run.pending_tool_calls
    _, error, thread = _in_background(lambda: skill_run_decide(user=user, run=run, approve=approve), lambda r: None)
    if error is not None:
        say(f":warning: {error.message}")
        return
    client.chat_update(
        channel=channel,
        ts=message_ts,
        text="Confirmed." if approve else "Rejected.",
        blocks=blocks.decided_blocks(calls=calls, approved=approve, by=slack_user),
    )
    previous = slack_message_last_for_run(run=run)
    status = slack_message_post(
        client=client,
        key=f"resume:{run.id}:{previous.last_seq if previous else 0}",
        channel=channel,
        thread_ts=thread_ts,
        text=blocks.WORKING_TEXT,
        run=run,
        team_id=team_id,
    )
    if previous is not None and status.last_seq < previous.last_seq:
        status.last_seq = previous.last_seq
        status.save(update_fields=["last_seq"])
    try:
        _follow(client=client, run=run, message=status, config=config, team_id=team_id, slack_user=slack_user)
    finally:
        thread.join(config.run_timeout)
