import pytest

from skills.models import Domain
from skills.registry import packs_sync
from skills.services import domain_grants_apply
from tenants.demo import demo_seed

pytestmark = pytest.mark.browser


@pytest.fixture
def demo_world(transactional_db):
    demo_seed(password="browser-demo-pw")
    packs_sync()
    for domain in Domain.objects.all():
        domain_grants_apply(domain=domain)


def test_a_demo_user_signs_in_and_sees_the_navigation(live_server, page, screenshot, demo_world):
    page.goto(f"{live_server.url}/")
    assert page.url == f"{live_server.url}/login/?next=/"
    screenshot("sign-in")

    page.get_by_label("Username").fill("olivia")
    page.get_by_label("Password").fill("browser-demo-pw")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/")

    nav = page.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link").all_inner_texts() == ["Console", "Factory", "Dashboard", "Audit", "Usage", "Admin"]
    assert page.get_by_role("heading", level=1).inner_text() == "Good to see you, Olivia"
    assert page.locator(".card").filter(has_text="Your teams").get_by_text("FinCrime").is_visible()
    screenshot("dashboard")

    nav.get_by_role("link", name="Console").click()
    assert page.get_by_role("heading", level=1).inner_text() == "What can I help with?"
    catalog = page.locator(".skill-card h2").all_inner_texts()
    assert {"/my-tickets", "/team-queue", "/show-alerts"} <= set(catalog)
    assert "/escalate-shipment" not in catalog  # escalating is for the field
    screenshot("console")


def test_the_admin_shows_a_skill_with_its_preview_and_versions(live_server, page, screenshot, demo_world):
    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("browser-demo-pw")
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server.url}/admin/skills/skill/")
    page.get_by_role("link", name="my-tickets").click()

    assert page.locator(".skill-preview h1").inner_text() == "My tickets"
    assert "v1 · File" in page.locator(".field-live_version").inner_text()
    screenshot("admin-skill")


def test_a_wrong_password_keeps_the_person_on_the_sign_in_page(live_server, page, demo_world):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill("sarah")
    page.get_by_label("Password").fill("not-her-password")
    page.get_by_role("button", name="Sign in").click()

    assert page.get_by_role("alert").inner_text().startswith("Please enter a correct username and password")
