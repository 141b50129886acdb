"""The WhatsApp webhook against signed requests and a loopback Graph API."""

import hashlib
import hmac
import time

from bridges.whatsapp.models import WhatsAppInbound
from bridges.whatsapp.services import whatsapp_text
from domains.ecm.models import Ticket
from skills.models import RunStatus, SkillRun
from tests.whatsapp.conftest import SARAH, SECRET, post_webhook, text_message, webhook_payload


def test_the_verification_handshake_echoes_the_challenge_only_for_the_right_token(client, graph):
    good = client.get(
        "/whatsapp/webhook", {"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "1158201444"}
    )
    bad = client.get(
        "/whatsapp/webhook", {"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1158201444"}
    )

    assert (good.status_code, good.content) == (200, b"1158201444")
    assert bad.status_code == 403


def test_a_linked_number_asks_and_gets_one_readable_reply(client, graph):
    response = post_webhook(client, webhook_payload(text_message("show my tickets")))

    assert response.status_code == 200
    [reply] = graph.sent
    assert reply["to"] == SARAH
    assert reply["type"] == "text"
    body = reply["text"]["body"]
    assert body.startswith("4 found:")
    assert "• #1042 · Transfer stuck at beneficiary bank · AE→IN · 4,250.00 AED" in body
    assert "](/" not in body and "|" not in body
    assert graph.headers[0]["authorization"] == "Bearer EAAG-test-token"
    run = SkillRun.objects.get(channel="whatsapp")
    assert (run.user.username, run.status) == ("sarah", RunStatus.SUCCEEDED)


def test_a_redelivered_message_never_starts_a_second_run(client, graph):
    post_webhook(client, webhook_payload(text_message("show my tickets", message_id="wamid.same")))
    again = post_webhook(client, webhook_payload(text_message("show my tickets", message_id="wamid.same")))

    assert again.status_code == 200
    assert SkillRun.objects.filter(channel="whatsapp").count() == 1
    assert len(graph.sent) == 1


def test_forged_and_malformed_requests_get_their_status_and_start_nothing(client, graph):
    forged = post_webhook(client, webhook_payload(text_message("show my tickets")), secret="not-the-secret")
    unsigned = client.post("/whatsapp/webhook", b"{}", content_type="application/json")
    body = b"not json"
    malformed = client.post(
        "/whatsapp/webhook", body, content_type="application/json",
        headers={"X-Hub-Signature-256": "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()},
    )  # fmt: skip

    assert (forged.status_code, unsigned.status_code, malformed.status_code) == (401, 401, 400)
    assert not SkillRun.objects.filter(channel="whatsapp").exists()
    assert graph.sent == []


def test_a_tool_call_is_confirmed_with_a_button(client, graph):
    post_webhook(
        client, webhook_payload(text_message("escalate ticket 1043 because customs held it", message_id="wamid.a"))
    )
    buttons = graph.sent[0]["interactive"]["action"]["buttons"]
    run = SkillRun.objects.get(channel="whatsapp")

    assert run.status == RunStatus.AWAITING_CONFIRMATION
    assert [b["reply"]["title"] for b in buttons] == ["Confirm", "Reject"]
    reply = {"type": "button_reply", "button_reply": {"id": buttons[0]["reply"]["id"], "title": "Confirm"}}
    press = {
        "from": SARAH,
        "id": "wamid.b",
        "timestamp": str(int(time.time())),
        "type": "interactive",
        "interactive": reply,
    }
    post_webhook(client, webhook_payload(press))

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert "Omar Haddad" in graph.sent[1]["text"]["body"]
    assert Ticket.objects.get(tenant__slug="aspora-remit", number=1043).escalation_level == 1


def test_outside_the_24_hour_window_no_reply_is_sent_and_the_run_says_why(client, graph):
    post_webhook(client, webhook_payload(text_message("show my tickets", sent=time.time() - 25 * 3600)))

    run = SkillRun.objects.get(channel="whatsapp")
    assert graph.sent == []
    assert run.events.last().data["message"] == "Reply not sent: outside WhatsApp's 24-hour customer-service window."
    assert WhatsAppInbound.objects.get().outcome == "outside_window"


def test_without_configuration_the_webhook_says_so(client, db, monkeypatch):
    monkeypatch.delenv("WHATSAPP_APP_SECRET", raising=False)

    response = client.post("/whatsapp/webhook", b"{}", content_type="application/json")

    assert response.status_code == 503
    assert "The WhatsApp bridge is not configured" in response.json()["error"]


def test_markdown_reads_well_as_whatsapp_text():
    markdown = "**summary**: 2\n\n| ticket | title |\n|---|---|\n| [#1](/ecm/tickets/1/) | Late |\n\n_note_"

    assert whatsapp_text(markdown) == "*summary*: 2\n\n• #1 · Late\n\n_note_"
