"""Linking a WhatsApp number from the link the bot sent, in headless Chromium: sign in, confirm, done."""

import pytest
from django.test import Client
from playwright.sync_api import expect

from bridges.services import channel_link_token_create
from tenants.demo import demo_seed
from tenants.models import ChannelIdentity, User

pytestmark = pytest.mark.browser
PASSWORD = "browser-demo-pw"


@pytest.fixture
def people(transactional_db):
    demo_seed(password=PASSWORD)


def test_a_person_follows_the_whatsapp_link_signs_in_and_links_the_number(live_server, page, screenshot, people):
    _, raw = channel_link_token_create(
        provider="whatsapp", workspace="109876543210", external_user_id="447700900123", ttl_seconds=900
    )
    link = f"{live_server.url}/link/whatsapp/{raw}/"

    page.goto(link)
    page.get_by_label("Username").fill("raj")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(link)

    expect(page.get_by_role("heading", level=1)).to_have_text("Link your WhatsApp number")
    card = page.locator(".link-card")
    expect(card.locator("dd").first).to_have_text("+447700900123")
    expect(card).to_contain_text("Link expires")
    screenshot("link-whatsapp-confirm")

    page.get_by_role("button", name="Link this number to me").click()

    expect(card.get_by_role("heading", level=2)).to_contain_text("+447700900123 now speaks for you")
    screenshot("link-whatsapp-linked")
    assert ChannelIdentity.objects.get(external_user_id="447700900123").user.username == "raj"

    page.get_by_role("link", name="See your linked channels").click()
    expect(page.locator(".card").filter(has_text="Linked channels")).to_contain_text("447700900123")


def test_a_used_link_says_so_in_the_portal(live_server, page, screenshot, people):
    _, raw = channel_link_token_create(
        provider="whatsapp", workspace="109876543210", external_user_id="447700900123", ttl_seconds=900
    )
    client = Client()
    client.force_login(User.objects.get(username="raj"))
    assert client.post(f"/link/whatsapp/{raw}/").status_code == 200
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )

    page.goto(f"{live_server.url}/link/whatsapp/{raw}/")

    expect(page.get_by_role("alert")).to_have_text(
        "This link has already been used. Send Aspora a WhatsApp message to get a new one."
    )
    screenshot("link-whatsapp-used")
