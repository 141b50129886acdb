"""The usage dashboard and budget notices in headless Chromium against the real ASGI app."""

import re
from decimal import Decimal

import pytest
from django.test import Client
from playwright.sync_api import expect

from tenants.models import Team, User
from tests.browser.conftest import SCREENSHOTS
from tests.usage.conftest import world  # noqa: F401 - a fixture
from tests.usage.test_budgets import _spend
from usage.demo import usage_demo_seed
from usage.models import Budget

pytestmark = pytest.mark.browser


def _signed_in(page, asgi_server, username: str) -> None:
    client = Client()
    client.force_login(User.objects.get(username=username))
    page.context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": asgi_server}])


def test_an_ops_manager_reads_a_month_of_usage_as_charts(page, world, asgi_server):  # noqa: F811
    usage_demo_seed(days=30)
    _signed_in(page, asgi_server, "olivia")

    page.goto(f"{asgi_server}/usage/?days=30")

    expect(page.get_by_role("heading", name="Runs, speed and spend")).to_be_visible()
    expect(page.locator('[data-kpi="cost"]')).to_have_text(re.compile(r"^\$\d+\.\d{2,4}$"))
    for chart in ("chart-runs", "chart-latency", "chart-errors", "chart-cost"):
        points = page.evaluate(f"Chart.getChart('{chart}').data.labels.length")
        assert points == 30, chart
    expect(page.locator("#top-domains .top-group h3").first).to_have_text("ecm")
    expect(page.locator("#top-teams .top-row").first).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "usage-dashboard.png"), full_page=True)

    page.get_by_label("Domain").select_option("fincrime")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#top-domains .top-group h3")).to_have_text(["fincrime"])


def test_the_console_shows_a_budget_warning_and_then_the_refusal(page, world, asgi_server):  # noqa: F811
    team = Team.objects.get(slug="ecm-field")
    budget = Budget.objects.create(
        tenant=team.tenant, scope="team", team=team, monthly_limit_usd=Decimal("1.00"), warn_at_percent=40
    )
    _spend("amir", "0.50")
    _signed_in(page, asgi_server, "sarah")
    page.goto(f"{asgi_server}/console/")
    expect(page.locator("#connection")).to_have_text("connected")

    page.get_by_label("Message").fill("/my-tickets show my tickets")
    page.get_by_label("Message").press("Enter")
    notice = page.locator(".bubble.assistant .run-notice").last
    expect(notice).to_contain_text("The ECM field team's monthly budget is 50% used ($0.50 of $1.00 this month)")
    expect(page.locator(".bubble.assistant .answer-html").last).to_be_visible()

    budget.monthly_limit_usd = Decimal("0.40")
    budget.save()
    page.get_by_label("Message").fill("/my-tickets show my tickets")
    page.get_by_label("Message").press("Enter")
    refused = page.locator(".bubble.assistant.refused").last
    expect(refused).to_contain_text("The ECM field team's monthly budget of $0.40 is spent ($0.50 this month)")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "usage-console-budget.png"), full_page=True)
