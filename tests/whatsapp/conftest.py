"""The WhatsApp bridge switched on against a loopback Graph API, and signed webhook requests."""

import hashlib
import hmac
import json
import time

import pytest

from bridges.whatsapp.config import whatsapp_config
from bridges.whatsapp.services import whatsapp_inbound_handle
from tenants.models import ChannelIdentity, User
from tests.graph_loopback import GraphAPIServer
from tests.skills.conftest import demo, eager_tasks  # noqa: F401 - shared fixtures

PHONE_ID = "109876543210"
SECRET = "whatsapp-app-secret-for-tests"
SARAH = "971501234567"


@pytest.fixture
def graph(monkeypatch, demo):  # noqa: F811 - the imported fixture
    with GraphAPIServer() as server:
        for name, value in {
            "WHATSAPP_VERIFY_TOKEN": "verify-me",
            "WHATSAPP_APP_SECRET": SECRET,
            "WHATSAPP_ACCESS_TOKEN": "EAAG-test-token",
            "WHATSAPP_PHONE_NUMBER_ID": PHONE_ID,
            "WHATSAPP_API_URL": server.url,
            "ASPORA_PUBLIC_URL": "https://aspora.example",
        }.items():
            monkeypatch.setenv(name, value)
        # Handle in the test's own thread so assertions see the finished work.
        monkeypatch.setattr(
            "bridges.whatsapp.views.whatsapp_dispatch",
            lambda **kwargs: whatsapp_inbound_handle(config=whatsapp_config(), **kwargs),
        )
        ChannelIdentity.objects.create(
            provider="whatsapp", workspace=PHONE_ID, external_user_id=SARAH, user=User.objects.get(username="sarah")
        )
        yield server


def webhook_payload(message: dict) -> dict:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp", "metadata": {"phone_number_id": PHONE_ID}, "messages": [message]}}]}],
    }  # fmt: skip


def text_message(body: str, *, sender: str = SARAH, message_id: str = "wamid.1", sent: float | None = None) -> dict:
    return {
        "from": sender,
        "id": message_id,
        "timestamp": str(int(sent or time.time())),
        "type": "text",
        "text": {"body": body},
    }


def post_webhook(client, payload: dict, *, secret: str = SECRET):
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return client.post(
        "/whatsapp/webhook", body, content_type="application/json", headers={"X-Hub-Signature-256": signature}
    )
