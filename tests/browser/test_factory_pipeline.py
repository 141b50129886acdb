"""The whole factory flow in two browsers against the real ASGI app and the real pipeline (a
Celery worker in production mode, the server's own thread in the embedded default): a PM queues
the demo product spec from its template, watches the stages arrive, an ops manager approves the
exact commit from their own browser, and the PM's page shows the product live at a URL that
answers."""

import contextlib
import json
import os
import re
import signal
import urllib.request

import pytest
from django.test import Client
from playwright.sync_api import expect

from factory.models import Deployment
from factory.services import risk_tiers_default_create
from tenants.demo import demo_seed
from tenants.models import User
from tests.browser.conftest import SCREENSHOTS

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def factory_dir(transactional_db, tmp_path, monkeypatch, settings):
    """One factory workspace for this process and the server it starts (set before the server is)."""
    monkeypatch.setenv("ASPORA_FACTORY_DIR", str(tmp_path / "factory"))
    settings.ASPORA_FACTORY_DIR = tmp_path / "factory"
    yield
    for deployment in Deployment.objects.exclude(pid=None):
        with contextlib.suppress(OSError):
            os.killpg(deployment.pid, signal.SIGKILL)


def _signed_in(browser, asgi_server, username: str, path: str):
    client = Client()
    client.force_login(User.objects.get(username=username))
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": asgi_server}])
    page = context.new_page()
    page.goto(f"{asgi_server}{path}")
    return page


def test_a_pm_queues_the_demo_spec_and_an_approver_ships_it(browser, transactional_db, asgi_server):
    demo_seed(password=None)
    risk_tiers_default_create()
    paula = _signed_in(browser, asgi_server, "paula", "/factory/?new")

    paula.locator("[data-template]", has_text="Wealth Portfolio Checker").click()
    expect(paula.locator("#spec-text")).to_have_value(re.compile(r"kind: product"))
    paula.get_by_role("button", name="Queue run").click()

    expect(paula).to_have_url(re.compile(r"/factory/runs/[0-9a-f-]{36}/$"))
    expect(paula.locator("#live-state")).to_have_text("live")
    expect(paula.locator("#run-status")).to_have_text("Waiting for approval", timeout=60_000)
    expect(paula.locator("#run-timeline")).to_contain_text("Test")
    expect(paula.locator("#run-tier")).to_contain_text("money-logic")
    expect(paula.locator("#approval-refusal")).to_contain_text("requested")

    olivia = _signed_in(browser, asgi_server, "olivia", paula.url.removeprefix(asgi_server))
    expect(
        olivia.locator("#approval").get_by_role("button", name=re.compile(r"^Approve [0-9a-f]{10}$"))
    ).to_be_visible()
    olivia.get_by_label(re.compile("Comment")).fill("P&L matches the examples")
    olivia.locator("#approval").get_by_role("button", name=re.compile(r"^Approve")).click()

    expect(paula.locator("#run-status")).to_have_text("Deployed", timeout=60_000)
    link = paula.locator("#run-deployment .fx-url a")
    expect(link).to_have_text(re.compile(r"^http://127\.0\.0\.1:\d+$"))
    with urllib.request.urlopen(f"{link.inner_text()}/portfolio/karim?currency=AED", timeout=10) as response:  # noqa: S310
        assert json.loads(response.read())["portfolio_pnl"] in ("8342.25", 8342.25)
    paula.wait_for_timeout(1500)  # the page re-renders its cards after the last event
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    paula.screenshot(path=str(SCREENSHOTS / "factory-run-shipped.png"), full_page=True)
    paula.set_viewport_size({"width": 1280, "height": 1500})
    paula.screenshot(path=str(SCREENSHOTS / "factory-run-shipped-top.png"))
