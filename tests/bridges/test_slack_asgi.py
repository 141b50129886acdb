"""The ASGI shortcut in front of Django: daphne's path for /slack/events, answered on the event loop."""

import json
import time

from asgiref.sync import sync_to_async

from aspora.asgi import application
from skills.models import SkillRun
from tests.asgi import asgi_request
from tests.bridges.conftest import drain, mention, signature


def _signed(body: str, *, secret: str | None = None, content_type: str = "application/json") -> list[tuple]:
    timestamp = int(time.time())
    signed = signature(body, timestamp) if secret is None else signature(body, timestamp, secret)
    return [
        (b"content-type", content_type.encode()),
        (b"x-slack-request-timestamp", str(timestamp).encode()),
        (b"x-slack-signature", signed.encode()),
    ]


async def _post(body: str, headers: list[tuple], path: str = "/slack/events") -> dict:
    return await asgi_request(application, "POST", path, body=body.encode(), headers=headers)


async def test_a_signed_mention_is_acknowledged_empty_and_answered_in_the_thread(linked, slack_env):
    body = json.dumps(mention("show my tickets", event_id="EvAsgi1"))

    response = await _post(body, _signed(body))

    assert (response["status"], response["body"]) == (200, b"")
    await sync_to_async(drain)()
    run = await SkillRun.objects.select_related("user").aget()
    assert run.user.username == "sarah"
    assert "#1042" in slack_env.of("chat.update")[-1].params["text"]


async def test_url_verification_forgery_and_malformed_bodies_get_their_answers(db, slack_env):
    challenge = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "x"})
    verified = await _post(challenge, _signed(challenge))
    forged = await _post(challenge, _signed(challenge, secret="guessed"))
    unsigned = await _post(challenge, [(b"content-type", b"application/json")])
    malformed = await _post("{nope", _signed("{nope"))

    assert (verified["status"], json.loads(verified["body"])) == (200, {"challenge": "abc123"})
    assert (forged["status"], json.loads(forged["body"])["error"]) == (401, "invalid_signature")
    assert (unsigned["status"], json.loads(unsigned["body"])["error"]) == (401, "unsigned")
    assert (malformed["status"], json.loads(malformed["body"])["error"]) == (400, "malformed_body")
    assert slack_env.calls == []


async def test_without_configuration_the_shortcut_answers_503(db, monkeypatch):
    for name in ("SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN", "SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)

    response = await _post("{}", [(b"content-type", b"application/json")])

    assert response["status"] == 503
    assert json.loads(response["body"])["error"] == "slack_not_configured"


async def test_every_other_address_still_goes_through_django(db, slack_env):
    host = [(b"host", b"localhost")]
    health = await asgi_request(application, "GET", "/healthz", headers=host)
    other = await asgi_request(application, "POST", "/slack/events/", headers=host)

    assert health["status"] == 200
    assert other["status"] == 404  # Django's answer: the shortcut serves one exact path
