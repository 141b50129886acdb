"""Writes of the Slack bridge: event receipts, idempotent posts, link tokens and identity links.

- A receipt is claimed before an event is handled; `run` is set as soon as a run exists, so a
  retried delivery never starts a second one, and a failed attempt releases its claim.
- A message is posted at most once per key: the row is written before the post and its `ts`
  after, so a retried job finds the `ts` and edits the message instead.
- Link tokens are random, single use and expiring; only their digest is stored.
"""

import hashlib
import secrets
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from slack_sdk import WebClient

from aspora.errors import ApplicationError
from bridges.models import SlackEventReceipt, SlackLinkToken, SlackMessage
from skills.models import SkillRun
from tenants.models import ChannelIdentity, User

CLAIM_LEASE = timedelta(seconds=60)


class SlackLinkError(ApplicationError):
    status_code = 409


# --- receipts -------------------------------------------------------------------------------


def slack_receipt_claim(*, event_id: str, team_id: str, kind: str) -> SlackEventReceipt | None:
    """Claim a delivery; None when it was handled already or another worker holds a fresh claim."""
    now = timezone.now()
    try:
        with transaction.atomic():
            return SlackEventReceipt.objects.create(event_id=event_id, team_id=team_id, kind=kind, claimed_at=now)
    except IntegrityError:
        pass
    claimable = Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - CLAIM_LEASE)
    claimed = (
        SlackEventReceipt.objects.filter(event_id=event_id, run__isnull=True, handled_at__isnull=True)
        .filter(claimable)
        .update(claimed_at=now, deliveries=F("deliveries") + 1)
    )
    return SlackEventReceipt.objects.get(event_id=event_id) if claimed else None


def slack_receipt_release(*, receipt: SlackEventReceipt) -> None:
    """The attempt failed before anything was recorded: let Slack's retry handle it."""
    SlackEventReceipt.objects.filter(pk=receipt.pk, run__isnull=True, handled_at__isnull=True).update(claimed_at=None)


def slack_receipt_handled(
    *, receipt: SlackEventReceipt, outcome: str, run: SkillRun | None = None
) -> SlackEventReceipt:
    receipt.outcome, receipt.run, receipt.handled_at = outcome, run, timezone.now()
    receipt.save(update_fields=["outcome", "run", "handled_at"])
    return receipt


# --- messages -------------------------------------------------------------------------------


def slack_message_post(
    *,
    client: WebClient,
    key: str,
    channel: str,
    text: str,
    thread_ts: str = "",
    blocks: list | None = None,
    run: SkillRun | None = None,
    team_id: str = "",
) -> SlackMessage:
    """Post once per key; a second call with the same key edits the message it posted."""
    message, _ = SlackMessage.objects.get_or_create(
        key=key, defaults={"channel": channel, "thread_ts": thread_ts, "run": run, "team_id": team_id}
    )
    if message.ts:
        return slack_message_update(client=client, message=message, text=text, blocks=blocks)
    response = client.chat_postMessage(
        channel=message.channel, text=text, blocks=blocks, thread_ts=message.thread_ts or None, unfurl_links=False
    )
    message.ts, message.channel = response["ts"], response.get("channel") or message.channel
    message.save(update_fields=["ts", "channel", "updated_at"])
    return message


def slack_message_update(
    *, client: WebClient, message: SlackMessage, text: str, blocks: list | None = None
) -> SlackMessage:
    client.chat_update(channel=message.channel, ts=message.ts, text=text, blocks=blocks or [])
    return message


def slack_message_progress(*, message: SlackMessage, seq: int, run: SkillRun | None = None) -> SlackMessage:
    message.last_seq = seq
    fields = ["last_seq", "updated_at"]
    if run is not None and message.run_id is None:
        message.run = run
        fields.append("run")
    message.save(update_fields=fields)
    return message


# --- linking --------------------------------------------------------------------------------


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def slack_link_token_create(*, workspace: str, external_user_id: str, ttl_seconds: int) -> tuple[SlackLinkToken, str]:
    """A new link invitation and its only plaintext copy (it goes into the Slack message, nowhere else)."""
    raw = secrets.token_urlsafe(32)
    token = SlackLinkToken.objects.create(
        digest=_digest(raw),
        workspace=workspace,
        external_user_id=external_user_id,
        expires_at=timezone.now() + timedelta(seconds=ttl_seconds),
    )
    return token, raw


def slack_link_token_check(*, raw: str) -> SlackLinkToken:
    """The token behind a link, or an error that says what to do instead."""
    token = SlackLinkToken.objects.filter(digest=_digest(raw)).first()
    if token is None:
        raise SlackLinkError("This link is not valid. Mention the Aspora bot in Slack to get a new one.")
    if token.used_at is not None:
        raise SlackLinkError("This link has already been used. Mention the Aspora bot in Slack to get a new one.")
    if token.expires_at <= timezone.now():
        raise SlackLinkError("This link has expired. Mention the Aspora bot in Slack to get a new one.")
    return token


@transaction.atomic
def slack_link_confirm(*, raw: str, user: User) -> ChannelIdentity:
    """Link the token's Slack account to `user`; a Slack account speaks for one portal user only."""
    token = slack_link_token_check(raw=raw)
    token = SlackLinkToken.objects.select_for_update().get(pk=token.pk)
    if token.used_at is not None:
        raise SlackLinkError("This link has already been used. Mention the Aspora bot in Slack to get a new one.")
    identity = ChannelIdentity.objects.filter(
        provider=ChannelIdentity.Provider.SLACK, workspace=token.workspace, external_user_id=token.external_user_id
    ).first()
    if identity is not None and identity.user_id != user.pk:
        raise SlackLinkError(
            "This Slack account is already linked to another portal user. Ask an admin to move it if that is wrong."
        )
    if identity is None:
        identity = ChannelIdentity.objects.create(
            provider=ChannelIdentity.Provider.SLACK,
            workspace=token.workspace,
            external_user_id=token.external_user_id,
            user=user,
        )
    token.used_at, token.used_by = timezone.now(), user
    token.save(update_fields=["used_at", "used_by"])
    return identity
