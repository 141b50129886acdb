"""Self-service linking of a WhatsApp number: the one-time link, the portal page, and its attackers."""

import re
import time
from datetime import timedelta
from urllib.parse import quote

from django.utils import timezone

from bridges.models import ChannelLinkToken
from bridges.services import channel_link_token_create
from bridges.whatsapp.models import WhatsAppInbound
from skills.models import SkillRun
from tenants.models import ChannelIdentity, User
from tests.slack_loopback import TEAM_ID
from tests.whatsapp.conftest import PHONE_ID, post_webhook, text_message, webhook_payload

RAJ = "447700900123"
LINK = re.compile(r"https://aspora\.example(/link/whatsapp/[A-Za-z0-9_-]+/)")


def _link_for(client, graph, *, sender: str = RAJ, message_id: str = "wamid.raj1") -> str:
    """Message Aspora from an unlinked number; return the path of the link it replied with."""
    post_webhook(client, webhook_payload(text_message("show my tickets", sender=sender, message_id=message_id)))
    reply = graph.sent[-1]
    assert reply["to"] == sender
    return LINK.search(reply["text"]["body"]).group(1)


def _raj_identity():
    return ChannelIdentity.objects.filter(provider="whatsapp", workspace=PHONE_ID, external_user_id=RAJ).first()


def test_an_unlinked_number_gets_a_one_time_link_and_no_run(client, graph):
    post_webhook(client, webhook_payload(text_message("show my tickets", sender=RAJ)))

    [reply] = graph.sent
    body = reply["text"]["body"]
    assert reply["to"] == RAJ
    assert body.startswith(f"Hello! This number (+{RAJ}) is not linked to an Aspora account yet.")
    assert "It works once, for the next 15 minutes:\nhttps://aspora.example/link/whatsapp/" in body
    token = ChannelLinkToken.objects.get()
    assert (token.provider, token.workspace, token.external_user_id) == ("whatsapp", PHONE_ID, RAJ)
    assert LINK.search(body).group(1).split("/")[3] not in token.digest  # only the digest is stored
    assert not SkillRun.objects.filter(channel="whatsapp").exists()
    assert WhatsAppInbound.objects.get().outcome == "unlinked"


def test_signing_in_from_the_link_confirming_and_messaging_again_runs_as_that_person(client, graph):
    path = _link_for(client, graph)

    # Not signed in: to the sign-in page, and back to the link after it.
    anonymous = client.get(path)
    assert anonymous.status_code == 302
    assert anonymous["Location"] == f"/login/?next={quote(path)}"
    signed_in = client.post("/login/", {"username": "raj", "password": "demo-pw-for-tests", "next": path})
    assert (signed_in.status_code, signed_in["Location"]) == (302, path)

    page = client.get(path)
    assert page.status_code == 200
    assert f"+{RAJ}".encode() in page.content and b"Link this number to me" in page.content
    assert _raj_identity() is None  # looking is not linking

    confirmed = client.post(path)
    assert confirmed.status_code == 200 and b"now speaks for you" in confirmed.content
    raj = User.objects.get(username="raj")
    assert _raj_identity().user == raj

    post_webhook(client, webhook_payload(text_message("show my tickets", sender=RAJ, message_id="wamid.raj2")))

    run = SkillRun.objects.get(channel="whatsapp")
    assert run.user == raj
    assert graph.sent[-1]["to"] == RAJ
    assert "not linked" not in graph.sent[-1]["text"]["body"]


def test_a_used_link_cannot_be_used_again_by_anyone(client, graph):
    path = _link_for(client, graph)
    client.force_login(User.objects.get(username="raj"))
    assert client.post(path).status_code == 200

    again = client.post(path)
    client.force_login(User.objects.get(username="omar"))
    stolen = client.post(path)

    assert again.status_code == 409 and b"already been used" in again.content
    assert stolen.status_code == 409 and b"already been used" in stolen.content
    assert _raj_identity().user.username == "raj"


def test_an_expired_link_is_refused(client, graph):
    path = _link_for(client, graph)
    ChannelLinkToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    client.force_login(User.objects.get(username="raj"))

    shown, posted = client.get(path), client.post(path)

    assert shown.status_code == 409 and b"This link has expired" in shown.content
    assert posted.status_code == 409 and b"Send Aspora a WhatsApp message to get a new one." in posted.content
    assert _raj_identity() is None


def test_a_link_only_works_on_its_own_providers_page(client, graph):
    whatsapp_path = _link_for(client, graph)
    _, slack_raw = channel_link_token_create(
        provider="slack", workspace=TEAM_ID, external_user_id="URAJ", ttl_seconds=600
    )
    client.force_login(User.objects.get(username="raj"))

    as_slack = client.post(whatsapp_path.replace("/whatsapp/", "/slack/"))
    as_whatsapp = client.post(f"/link/whatsapp/{slack_raw}/")

    assert as_slack.status_code == 404 and b"This link is not valid" in as_slack.content
    assert as_whatsapp.status_code == 404 and b"This link is not valid" in as_whatsapp.content
    assert not ChannelIdentity.objects.filter(user__username="raj").exists()
    assert ChannelLinkToken.objects.filter(used_at__isnull=False).count() == 0


def test_a_made_up_link_is_not_valid(client, graph):
    client.force_login(User.objects.get(username="raj"))

    response = client.get("/link/whatsapp/not-a-real-token/")

    assert response.status_code == 404 and b"This link is not valid" in response.content


def test_an_anonymous_confirmation_is_sent_to_sign_in_and_links_nothing(client, graph):
    path = _link_for(client, graph)

    response = client.post(path)

    assert response.status_code == 302 and response["Location"].startswith("/login/?next=")
    assert _raj_identity() is None
    assert ChannelLinkToken.objects.get().used_at is None


def test_a_number_linked_to_someone_else_stays_theirs(client, graph):
    first = _link_for(client, graph, message_id="wamid.raj1")
    second = _link_for(client, graph, message_id="wamid.raj2")
    client.force_login(User.objects.get(username="raj"))
    assert client.post(first).status_code == 200

    client.force_login(User.objects.get(username="omar"))
    response = client.post(second)

    assert response.status_code == 409
    assert b"This WhatsApp number is already linked to another portal user" in response.content
    assert _raj_identity().user.username == "raj"


def test_outside_the_24_hour_window_no_link_is_made_or_sent(client, graph):
    old = text_message("show my tickets", sender=RAJ, sent=time.time() - 25 * 3600)

    post_webhook(client, webhook_payload(old))

    assert graph.sent == []
    assert not ChannelLinkToken.objects.exists()
    assert WhatsAppInbound.objects.get().outcome == "outside_window"
