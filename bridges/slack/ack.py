"""The thin ack path of `/slack/events`: verify, read, dedupe, queue, answer. Nothing else.

Slack wants an answer within 3 seconds and retries otherwise. `slack_request_accept` is all the
request path does, for both doors that lead to it (the ASGI shortcut in `bridges/slack/asgi.py`
and the Django view): pure CPU on the raw body (an HMAC, a JSON or form parse) on the event loop,
then `dispatch.slack_request_enqueue`. No database, no bolt: bolt handles the request in the job.

- Verification is Slack's v0 scheme: `X-Slack-Signature` = `v0=` + HMAC-SHA256 of
  `v0:<X-Slack-Request-Timestamp>:<raw body>` with the signing secret, and the timestamp within
  five minutes of now (replays of older requests are refused). Both failures answer 401.
- A body that is not what Slack sends answers 400, naming what is wrong.
- A delivery's key (event id, or the trigger id of a command or button press) lets the caller drop
  a request whose job is already queued or done.
"""

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs

from bridges.slack.config import SlackConfig
from bridges.slack.dispatch import slack_request_enqueue

REPLAY_WINDOW_SECONDS = 300
NOT_CONFIGURED = (
    "The Slack bridge is not configured: set SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN "
    "(or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET for several workspaces)."
)
# What bolt reads in the job besides the body: how to parse it, and whether it is a retry.
FORWARDED_HEADERS = ("content-type", "x-slack-retry-num", "x-slack-retry-reason")


class SlackRequestRefused(Exception):
    """A request that is not acknowledged: `status` and a message saying which part was wrong."""

    def __init__(self, *, status: int, error: str, message: str):
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


def slack_request_verify(
    *, signing_secret: str, body: bytes, timestamp: str | None, signature: str | None, now: float | None = None
) -> None:
    if not timestamp or not signature:
        raise SlackRequestRefused(
            status=401,
            error="unsigned",
            message="Missing X-Slack-Request-Timestamp or X-Slack-Signature: only signed requests are accepted.",
        )
    try:
        sent = int(timestamp)
    except ValueError:
        raise SlackRequestRefused(
            status=401, error="bad_timestamp", message="X-Slack-Request-Timestamp is not a Unix time in seconds."
        ) from None
    if abs((time.time() if now is None else now) - sent) > REPLAY_WINDOW_SECONDS:
        raise SlackRequestRefused(
            status=401,
            error="stale_timestamp",
            message="X-Slack-Request-Timestamp is more than five minutes from now: the request is refused as a replay.",
        )
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise SlackRequestRefused(
            status=401, error="invalid_signature", message="X-Slack-Signature does not match the request body."
        )


def _malformed(message: str) -> SlackRequestRefused:
    return SlackRequestRefused(status=400, error="malformed_body", message=message)


def slack_request_read(*, body: bytes, content_type: str) -> tuple[str, dict]:
    """The body as text (what bolt reads in the job) and the payload Slack sent, parsed."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _malformed("The request body is not UTF-8.") from None
    if content_type == "application/json":
        try:
            payload = json.loads(text)
        except ValueError:
            raise _malformed("The request body is not valid JSON.") from None
        if not isinstance(payload, dict):
            raise _malformed("The request body must be a JSON object.")
        if payload.get("type") == "event_callback" and not (
            isinstance(payload.get("event_id"), str) and isinstance(payload.get("event"), dict)
        ):
            raise _malformed("An event_callback needs an event_id and an event object.")
        return text, payload
    if content_type == "application/x-www-form-urlencoded":
        form = {key: values[0] for key, values in parse_qs(text, keep_blank_values=True).items()}
        if "payload" not in form:
            return text, form  # a slash command, or Slack's ssl_check
        try:
            payload = json.loads(form["payload"])
        except ValueError:
            raise _malformed("The form field `payload` is not valid JSON.") from None
        if not isinstance(payload, dict):
            raise _malformed("The form field `payload` must be a JSON object.")
        return text, payload
    raise _malformed(
        f"Content-Type {content_type or '(none)'} is not one Slack sends: "
        "expected application/json or application/x-www-form-urlencoded."
    )


def slack_delivery_key(payload: dict) -> str:
    """What identifies one delivery across Slack's retries; empty when nothing does."""
    if payload.get("type") == "event_callback":
        return f"event:{payload['event_id']}"
    trigger = payload.get("trigger_id")
    if isinstance(trigger, str) and trigger:
        return f"{'command' if 'command' in payload else 'interaction'}:{trigger}"
    return ""


@dataclass(frozen=True)
class SlackAck:
    """The answer to Slack: a status and a JSON body (None: an empty body)."""

    status: int
    body: dict | None = None


async def slack_request_accept(
    *, config: SlackConfig, method: str, headers: Mapping[str, str], body: bytes
) -> SlackAck:
    """Answer one request to `/slack/events`; `headers` are keyed by lower-case name."""
    if not config.is_configured:
        return SlackAck(503, {"ok": False, "error": "slack_not_configured", "message": NOT_CONFIGURED})
    if method != "POST":
        return SlackAck(405, {"ok": False, "error": "method_not_allowed", "message": "Slack POSTs to this address."})
    content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    try:
        slack_request_verify(
            signing_secret=config.signing_secret,
            body=body,
            timestamp=headers.get("x-slack-request-timestamp"),
            signature=headers.get("x-slack-signature"),
        )
        text, payload = slack_request_read(body=body, content_type=content_type)
    except SlackRequestRefused as exc:
        return SlackAck(exc.status, {"ok": False, "error": exc.error, "message": exc.message})
    if payload.get("type") == "url_verification":
        return SlackAck(200, {"challenge": payload.get("challenge", "")})
    if payload.get("ssl_check"):
        return SlackAck(200)
    forwarded = {name: headers[name] for name in FORWARDED_HEADERS if name in headers}
    await slack_request_enqueue(body=text, headers=forwarded, key=slack_delivery_key(payload))
    return SlackAck(200)
