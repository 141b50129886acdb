"""The dashboard's domains card, as a PM sees it when a domain is ready to graduate."""

import re

import pytest
from django.test import Client
from playwright.sync_api import expect

from tenants.models import User
from tests.browser.conftest import SCREENSHOTS
from tests.factory.test_graduation import _run

pytestmark = pytest.mark.browser


@pytest.fixture
def low_threshold(monkeypatch, settings):
    """Three active people make a domain ready, here and in the server (set before it starts)."""
    monkeypatch.setenv("ASPORA_GRADUATION_THRESHOLD", "3")
    settings.ASPORA_GRADUATION_THRESHOLD = 3


def test_a_pm_follows_the_graduate_button_into_a_prefilled_spec(page, demo, low_threshold, asgi_server):
    for username in ("sarah", "amir", "priya"):
        _run(username, "my-tickets")
    _run("nina", "investigate-alert")
    client = Client()
    client.force_login(User.objects.get(username="paula"))
    page.context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": asgi_server}])

    page.goto(f"{asgi_server}/")
    card = page.locator("#domains")
    expect(card).to_contain_text("3 of 3")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    card.screenshot(path=str(SCREENSHOTS / "dashboard-graduation.png"))
    card.get_by_role("link", name="Graduate").click()

    expect(page).to_have_url(re.compile(r"/factory/\?graduate=ecm"))
    expect(page.locator("#spec-text")).to_have_value(re.compile(r"name: ecm-service"))
