"""The audit page in Chromium: an ops manager filters the trail by person and exports it."""

import pytest
from django.test import Client
from playwright.sync_api import expect

from skills.services import SkillNotFoundError, skill_run_decide, skill_run_start
from tenants.models import User
from tests.skills.conftest import context_for

pytestmark = pytest.mark.browser


def test_an_ops_manager_filters_the_audit_by_person_and_exports_it(page, demo, asgi_server, screenshot):
    sarah = context_for("sarah")
    run = skill_run_start(context=sarah, message="escalate ticket 1043 because customs has held it for a week")
    skill_run_decide(user=sarah.user, run=run, approve=True)
    skill_run_start(context=context_for("raj"), message="show alert 5001", skill_name="investigate-alert")
    with pytest.raises(SkillNotFoundError):
        skill_run_start(context=context_for("amir"), message="wire the money", skill_name="wire-money")
    client = Client()
    client.force_login(User.objects.get(username="olivia"))
    page.context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": asgi_server}])

    page.goto(f"{asgi_server}/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit").click()
    table = page.locator(".au-table")
    expect(table).to_contain_text("run.tool_call")
    expect(table).to_contain_text("run.refused")
    expect(table).to_contain_text("raj")
    screenshot("audit-page")

    page.get_by_label("Person").select_option("sarah")
    page.get_by_role("button", name="Filter").click()
    expect(table).not_to_contain_text("raj")
    expect(table.locator("tbody tr")).to_have_count(5)
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    lines = download.value.path().read_text().splitlines()

    assert lines[0].startswith("seq,occurred_at,actor,")
    assert len(lines) == 1 + 5
    assert all(",sarah," in line for line in lines[1:])

    page.get_by_label("From", exact=True).fill("2026-01-01")
    page.get_by_label("To", exact=True).fill("2026-01-02")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator(".au-results")).to_contain_text("No audit rows match these filters.")
    expect(page.get_by_role("link", name="Export CSV")).to_be_visible()
    screenshot("audit-no-match")
