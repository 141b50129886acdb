"""Writes of the Slack bridge: event receipts and idempotent posts (linking: `bridges/services.py`).

- A receipt is claimed before an event is handled; `run` is set as soon as a run exists, so a
  retried delivery never starts a second one, and a failed attempt releases its claim.
- A message is posted at most once per key: the row is written before the post and its `ts`
  after, so a retried job finds the `ts` and edits the message instead.
"""

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from slack_sdk import WebClient

from bridges.models import SlackEventReceipt, SlackMessage
from skills.models import SkillRun

CLAIM_LEASE = timedelta(seconds=60)


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
