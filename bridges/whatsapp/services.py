"""Handling one inbound WhatsApp message: who it is, which run, and the one reply."""

import re
from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from aspora.errors import ApplicationError
from aspora.observability.tracing import continued
from bridges.services import channel_link_token_create, channel_link_url
from bridges.whatsapp.client import WhatsAppSendError, whatsapp_message_send
from bridges.whatsapp.config import WhatsAppConfig
from bridges.whatsapp.models import WhatsAppInbound
from skills.models import SkillRun
from skills.selectors import skill_run_follow, skill_run_get_for_user
from skills.services import skill_run_decide, skill_run_event_record, skill_run_start
from tenants.context import Channel
from tenants.models import ChannelIdentity
from tenants.selectors import channel_identity_resolve
from tenants.services import asker_context_build
from usage.services import budget_warnings_take

SERVICE_WINDOW = timedelta(hours=24)
FOLLOW_TIMEOUT_SECONDS = 600
WHATSAPP_TEXT_LIMIT = 4096
_LINK = re.compile(r"\[([^\]]+)\]\([^)]+\)")


def whatsapp_text(markdown: str) -> str:
    """Markdown as WhatsApp reads it: tables become bullet lines, links their text, bold *bold*."""
    lines = []
    header: list[str] = []
    for line in markdown.splitlines():
        if line.startswith("|"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            if all(set(cell) <= {"-", ":"} for cell in cells):
                continue
            if not header:
                header = cells
                continue
            lines.append("• " + " · ".join(cell for cell in cells if cell))
            continue
        header = [] if not line.strip() else header
        lines.append(line)
    text = _LINK.sub(r"\1", "\n".join(lines)).replace("**", "*")
    return text[: WHATSAPP_TEXT_LIMIT - 1] + "…" if len(text) > WHATSAPP_TEXT_LIMIT else text


def whatsapp_inbound_claim(
    *, message_id: str, phone_number_id: str, sender: str, kind: str, sent_at: datetime
) -> WhatsAppInbound | None:
    """Record a delivery once; a redelivery of the same message id returns None and does nothing."""
    try:
        with transaction.atomic():
            return WhatsAppInbound.objects.create(
                message_id=message_id, phone_number_id=phone_number_id, sender=sender, kind=kind, sent_at=sent_at
            )
    except IntegrityError:
        return None


def _inside_window(inbound: WhatsAppInbound) -> bool:
    return timezone.now() - inbound.sent_at < SERVICE_WINDOW


def _reply(*, config: WhatsAppConfig, inbound: WhatsAppInbound, message: dict, run: SkillRun | None = None) -> bool:
    """Send one message if the 24-hour window allows; a refusal is recorded on the run."""
    if not _inside_window(inbound):
        if run is not None:
            skill_run_event_record(
                run=run,
                type="run.error",
                data={
                    "channel": "whatsapp",
                    "message": "Reply not sent: outside WhatsApp's 24-hour customer-service window.",
                },
            )
        inbound.outcome = "outside_window"
        inbound.save(update_fields=["outcome"])
        return False
    whatsapp_message_send(config=config, to=inbound.sender, message=message)
    return True


def _text(body: str) -> dict:
    return {"type": "text", "text": {"preview_url": False, "body": body}}


def _buttons(run: SkillRun, calls: list[dict]) -> dict:
    described = "\n".join(f"• {call['name']} {call['args']}" for call in calls)
    return {
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": f"This changes data:\n{described}\nConfirm?"[:1024]},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": f"confirm:{run.id}", "title": "Confirm"}},
                    {"type": "reply", "reply": {"id": f"reject:{run.id}", "title": "Reject"}},
                ]
            },
        },
    }


def _follow(run: SkillRun, after: int) -> tuple[str, dict]:
    """Wait for the run to answer, ask for a confirmation or fail; return what happened."""
    try:
        for event in skill_run_follow(run=run, after=after, timeout=FOLLOW_TIMEOUT_SECONDS, poll_seconds=0.1):
            if event is not None and event.type in ("run.final", "run.confirmation_needed", "run.error"):
                return event.type, event.data
    except TimeoutError:
        return "run.error", {"message": "The answer is taking longer than expected; ask again later."}
    return "run.error", {"message": run.error or "The run ended without an answer."}


def _with_warnings(text: str, warnings: list[str]) -> str:
    """The answer with a line per warning under it, clipping the answer rather than the warning."""
    if not warnings:
        return text
    tail = "\n\n" + "\n".join(f"⚠️ {warning}" for warning in warnings)
    room = WHATSAPP_TEXT_LIMIT - len(tail)
    return (text if len(text) <= room else text[: room - 1] + "…") + tail


def _answer(*, config: WhatsAppConfig, inbound: WhatsAppInbound, run: SkillRun, after: int = 0) -> None:
    kind, data = _follow(run, after)
    if kind == "run.final":
        # A budget warning once a day per conversation (the chat with this number), not under every answer.
        place = f"whatsapp:{inbound.phone_number_id}:{inbound.sender}"
        warnings = budget_warnings_take(run=run, place=place)
        body = _with_warnings(whatsapp_text(data["answer"]), warnings)
        _reply(config=config, inbound=inbound, run=run, message=_text(body))
    elif kind == "run.confirmation_needed":
        _reply(config=config, inbound=inbound, run=run, message=_buttons(run, data["calls"]))
    else:
        _reply(config=config, inbound=inbound, run=run, message=_text(f"Sorry, that did not work: {data['message']}"))


def _link_offer(*, config: WhatsAppConfig, inbound: WhatsAppInbound) -> None:
    """Reply to an unlinked number with a one-time link to confirm in the portal, and start no run.

    Outside the 24-hour window no reply may go out, so no token is made either.
    """
    if not _inside_window(inbound):
        inbound.outcome = "outside_window"
        inbound.save(update_fields=["outcome"])
        return
    provider = ChannelIdentity.Provider.WHATSAPP
    _, raw = channel_link_token_create(
        provider=provider,
        workspace=inbound.phone_number_id,
        external_user_id=inbound.sender,
        ttl_seconds=config.link_ttl_seconds,
    )
    inbound.outcome = "unlinked"
    inbound.save(update_fields=["outcome"])
    url = channel_link_url(provider=provider, raw=raw, public_url=config.public_url)
    minutes = max(1, config.link_ttl_seconds // 60)
    body = (
        f"Hello! This number (+{inbound.sender}) is not linked to an Aspora account yet.\n\n"
        f"To link it to you, open this link, sign in to the portal and confirm. It works once, "
        f"for the next {minutes} minutes:\n{url}\n\nThen message again."
    )
    _reply(config=config, inbound=inbound, message=_text(body))


def whatsapp_inbound_handle(*, config: WhatsAppConfig, inbound_id: int, text: str = "", button_id: str = "") -> None:
    inbound = WhatsAppInbound.objects.get(pk=inbound_id)
    user = channel_identity_resolve(
        provider=ChannelIdentity.Provider.WHATSAPP, workspace=inbound.phone_number_id, external_user_id=inbound.sender
    )
    if user is None:
        _link_offer(config=config, inbound=inbound)
        return
    try:
        if button_id:
            action, _, run_id = button_id.partition(":")
            run = skill_run_get_for_user(user=user, run_id=run_id)
            if run is None or action not in ("confirm", "reject"):
                raise ApplicationError("That button belongs to a request that is not yours any more.")
            after = run.events.count()
            skill_run_decide(user=user, run=run, approve=action == "confirm")
            inbound.run, inbound.outcome = run, "decided"
            inbound.save(update_fields=["run", "outcome"])
            _answer(config=config, inbound=inbound, run=run, after=after)
            return
        context = asker_context_build(user=user, channel=Channel.WHATSAPP)
        run = skill_run_start(context=context, message=text)
    except ApplicationError as exc:
        inbound.outcome = "refused"
        inbound.save(update_fields=["outcome"])
        _reply(config=config, inbound=inbound, message=_text(exc.message))
        return
    inbound.run, inbound.outcome = run, "run"
    inbound.save(update_fields=["run", "outcome"])
    _answer(config=config, inbound=inbound, run=run)


def whatsapp_inbound_handle_safely(*, trace: dict[str, str] | None = None, **kwargs) -> None:
    """For background execution, in the webhook request's `trace` (W3C headers): a failed send is
    logged, never raised into a worker loop."""
    import logging

    from django.db import close_old_connections

    try:
        with continued("whatsapp inbound", carrier=trace):
            whatsapp_inbound_handle(**kwargs)
    except WhatsAppSendError:
        logging.getLogger(__name__).exception("WhatsApp reply failed")
    finally:
        close_old_connections()


def message_sent_at(timestamp: str | int | None) -> datetime:
    try:
        return datetime.fromtimestamp(int(timestamp), tz=UTC)
    except (TypeError, ValueError):
        return timezone.now()
