"""The Code Factory pages in headless Chromium against the real ASGI app: the queue and its spec
editor, a run waiting for approval, live updates between two people's browsers, the risk policy.
Each page is photographed at desktop width into var/screenshots/factory-*.png."""

import pytest
from django.test import Client
from playwright.sync_api import expect

from factory.models import Approval, FactoryRun, RunStatus
from tenants.models import User
from tests.factory.builders import factory_world, tiers_ensure, waiting_run_make

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def factory_dir(tmp_path, monkeypatch, settings):
    """One factory workspace for this process and the server it starts (set before the server is)."""
    monkeypatch.setenv("ASPORA_FACTORY_DIR", str(tmp_path / "factory"))
    settings.ASPORA_FACTORY_DIR = tmp_path / "factory"


@pytest.fixture
def world(transactional_db):
    return factory_world()


def _sign_in(page, asgi_server, username: str, path: str) -> None:
    """A signed-in session for the person (the sign-in form itself is tested in test_sign_in.py)."""
    client = Client()
    client.force_login(User.objects.get(username=username))
    page.context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": asgi_server}])
    page.goto(f"{asgi_server}{path}")


def _second_page(browser, asgi_server, username: str, path: str):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    _sign_in(page, asgi_server, username, path)
    return page


def test_the_queue_shows_runs_by_state_and_goes_live(page, asgi_server, world, screenshot):
    _sign_in(page, asgi_server, "paula", "/factory/")

    expect(page.locator("#live-state")).to_have_text("live")
    expect(page.locator("#group-waiting tbody tr")).to_have_count(1)
    expect(page.locator("#group-waiting")).to_contain_text("Wealth Portfolio Checker")
    expect(page.locator("#group-running")).to_contain_text("Review · running")
    expect(page.locator("#group-done tbody tr")).to_have_count(2)
    expect(page.locator("body")).not_to_contain_text("Northwind")
    screenshot("factory-queue")


def test_the_spec_editor_previews_checks_and_keeps_a_broken_spec(page, asgi_server, world, screenshot):
    _sign_in(page, asgi_server, "paula", "/factory/")
    page.get_by_role("link", name="New spec").click()
    editor = page.get_by_label("Spec markdown with a YAML frontmatter")
    expect(editor).to_be_focused()

    page.get_by_role("button", name="Stale escalations").click()
    expect(page.locator("#spec-check")).to_contain_text("✓ Stale escalations — stale-escalations, skill in ecm")
    expect(page.locator("#spec-preview h1")).to_have_text("Stale escalations")
    screenshot("factory-new-spec")

    editor.fill(editor.input_value().replace("domain: ecm", "domain: ECM Ops"))
    check = page.locator("#spec-check")
    expect(check).to_contain_text("Not ready to queue:")
    expect(check).to_contain_text("line 5: domain: must be lowercase letters and digits joined by single hyphens")
    check.get_by_role("button", name="line 5").click()
    selected = "(() => { const t = document.getElementById('spec-text'); return t.value.slice(t.selectionStart, t.selectionEnd); })()"  # noqa: E501
    assert page.evaluate(selected) == "domain: ECM Ops"

    typed = editor.input_value()
    page.get_by_role("button", name="Queue run").click()
    expect(page.locator("#spec-errors")).to_contain_text(
        "ecm-stale-escalations.md:5: domain: must be lowercase letters and digits"
    )
    expect(page.get_by_label("Spec markdown with a YAML frontmatter")).to_have_value(typed)  # kept, as typed
    assert FactoryRun.objects.count() == 6
    screenshot("factory-new-spec-error")


def test_a_run_waiting_for_approval_shows_what_the_approver_judges(page, asgi_server, world, screenshot):
    run = world.waiting
    _sign_in(page, asgi_server, "olivia", f"/factory/runs/{run.id}/")

    expect(page.locator("#live-state")).to_have_text("live")
    expect(page.locator("#approval")).to_contain_text(f"0 of 1 approval of commit {run.head_sha[:12]}")
    expect(page.locator(".fx-diff-file")).to_have_count(4)
    expect(page.locator("#run-findings tbody tr")).to_have_count(3)
    expect(page.locator("#run-tests")).to_contain_text("6 passed in 0.41s")
    screenshot("factory-run-waiting")

    page.get_by_role("button", name=f"Approve {run.head_sha[:10]}").click()
    expect(page.locator(".flash")).to_have_text(f"You approved {run.head_sha[:10]}.")
    assert Approval.objects.get(run=run, sha=run.head_sha).approver.username == "olivia"


def test_an_approval_in_one_browser_shows_live_in_another(page, browser, asgi_server, world, screenshot):
    tiers = tiers_ensure()
    FactoryRun.objects.filter(pk=world.waiting.pk).delete()
    run = waiting_run_make(world.people, tiers, tier="critical")  # two approvals: the first one waits
    _sign_in(page, asgi_server, "paula", f"/factory/runs/{run.id}/")
    expect(page.locator("#live-state")).to_have_text("live")
    expect(page.locator("#approval-refusal")).to_contain_text("You requested this run")
    expect(page.locator("#run-approvals")).to_contain_text("0 of 2 on the head")

    olivia = _second_page(browser, asgi_server, "olivia", f"/factory/runs/{run.id}/")
    olivia.get_by_label("Comment").fill("Kelly cap checked")
    olivia.get_by_role("button", name=f"Approve {run.head_sha[:10]}").click()
    expect(olivia.locator(".flash")).to_have_text(f"You approved {run.head_sha[:10]}.")
    olivia.context.close()

    # Paula's page never reloaded: the approval and the stage's log line arrived over the socket.
    expect(page.locator("#run-approvals")).to_contain_text("1 of 2 on the head")
    expect(page.locator("#run-approvals")).to_contain_text("“Kelly cap checked”")
    expect(page.locator("#run-timeline")).to_contain_text(f"approved {run.head_sha[:12]} by Olivia Brown (1 of 2)")
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
    expect(page.locator("#live-state")).to_have_text("live")  # still following after the sections were swapped
    screenshot("factory-run-live-approval")


def test_a_stopped_run_moves_to_done_on_everyones_queue(page, browser, asgi_server, world):
    _sign_in(page, asgi_server, "olivia", "/factory/")
    expect(page.locator("#live-state")).to_have_text("live")
    expect(page.locator("#group-running")).to_contain_text("ECM stale escalations")

    paula = _second_page(browser, asgi_server, "paula", f"/factory/runs/{world.reviewing.id}/")
    paula.once("dialog", lambda dialog: dialog.accept())
    paula.get_by_role("button", name="Stop run").click()
    expect(paula.locator("#run-status")).to_have_text("Stopped")
    paula.context.close()

    expect(page.locator("#group-running")).to_have_count(0)
    expect(page.locator("#group-done")).to_contain_text("ECM stale escalations")
    expect(page.locator("#run-tabs")).to_contain_text("Done 3")
    assert FactoryRun.objects.get(pk=world.reviewing.pk).status == RunStatus.STOPPED


def test_a_deployed_run_and_the_risk_policy(page, asgi_server, world, screenshot):
    _sign_in(page, asgi_server, "olivia", f"/factory/runs/{world.deployed.id}/")
    expect(page.locator("#run-deployment")).to_contain_text("http://127.0.0.1:8766")
    expect(page.locator("#run-deployment").get_by_role("button")).to_have_count(3)
    screenshot("factory-run-deployed")

    page.get_by_role("link", name="The whole risk policy →").click()
    expect(page.locator("h1")).to_have_text("Risk policy")
    expect(page.locator(".fx-tiers tbody tr")).to_have_count(4)
    expect(page.locator("#rules-high")).to_contain_text("money-logic")
    screenshot("factory-policy")
