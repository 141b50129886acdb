import pytest
from django.utils import timezone

from domains.fincrime.demo import fincrime_demo_seed
from domains.fincrime.models import OPEN_ALERT_STATUSES, Alert, Case
from domains.fincrime.services import alert_escalate_to_case
from tenants.context import Channel
from tenants.demo import demo_seed
from tenants.models import User
from tenants.services import asker_context_build

pytestmark = pytest.mark.browser


@pytest.fixture
def escalated(transactional_db) -> Case:
    demo_seed(password="browser-demo-pw")
    fincrime_demo_seed(count=40)
    alert = Alert.objects.filter(status__in=OPEN_ALERT_STATUSES, case__isnull=True).order_by("-score").first()
    raj = asker_context_build(user=User.objects.get(username="raj"), channel=Channel.WEB)
    reason = "Structuring: eleven transfers just below 10,000 AED"
    return alert_escalate_to_case(context=raj, alert=alert, reason=reason)


def _sign_in(page, url: str, username: str) -> None:
    page.goto(f"{url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("browser-demo-pw")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{url}/")


def test_an_ops_manager_closes_a_case_on_the_alert_page(live_server, page, screenshot, escalated):
    _sign_in(page, live_server.url, "olivia")
    page.goto(f"{live_server.url}/fincrime/alerts/{escalated.alert.number}/")
    panel = page.locator("#case")
    assert panel.get_by_text("Open since").is_visible()
    screenshot("case-open")

    form = page.get_by_role("form", name="Close case")
    form.get_by_label("Outcome").select_option(label="Other")
    form.get_by_role("button", name="Close case").click()
    error = page.get_by_role("alert")
    assert error.inner_text() == "Detail (what the outcome was, for Other) is required."
    screenshot("case-refused")

    form.get_by_label("Detail").fill("Customer exited; account closed and reported to the MLRO")
    form.get_by_role("button", name="Close case").click()
    page.wait_for_url(f"{live_server.url}/fincrime/alerts/{escalated.alert.number}/")

    escalated.refresh_from_db()
    assert escalated.closed_at is not None and escalated.outcome == "other"
    closed_on = timezone.localtime(escalated.closed_at).strftime("%-d %b %Y")
    assert panel.locator(".case-line").inner_text() == f"Closed on {closed_on} by Olivia Brown"
    assert "Other — Customer exited; account closed and reported to the MLRO" in panel.inner_text()
    assert page.locator(".flash").inner_text() == "Case closed. Its retention period starts today."
    assert page.get_by_role("form", name="Reopen case").is_visible()
    assert page.locator(".timeline").get_by_text("Case closed: Other — Customer exited").is_visible()
    screenshot("case-closed")


def test_an_analyst_sees_the_case_without_the_form(live_server, page, screenshot, escalated):
    _sign_in(page, live_server.url, "nina")
    page.goto(f"{live_server.url}/fincrime/alerts/{escalated.alert.number}/")

    assert page.locator("#case").get_by_text("Open since").is_visible()
    assert page.get_by_role("form", name="Close case").count() == 0
    assert page.get_by_text("A manager or ops manager of the FinCrime team closes the case.").is_visible()
    screenshot("case-analyst")
