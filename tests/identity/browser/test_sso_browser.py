"""A person signs in with the provider in Chromium: the button, the provider's redirect, back signed in."""

import pytest

from identity import oidc
from identity.models import SsoGroupRule
from tenants.models import Role, User
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, page, screenshot  # noqa: F401 - Playwright fixtures
from tests.factories import team_make, tenant_make
from tests.identity.conftest import PROVIDER_NAME
from tests.identity.oidc_provider import CLIENT_ID, CLIENT_SECRET, LoopbackOidcProvider

pytestmark = pytest.mark.browser


# Module scope: Playwright's loop must stop before the asyncio tests of tests/identity start theirs.
@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def provider(transactional_db, settings):
    team = team_make(tenant=tenant_make("acme"), slug="fincrime")
    SsoGroupRule.objects.create(group="aspora-fincrime", team=team, role=Role.ANALYST)
    with LoopbackOidcProvider() as running:
        running.person = {"sub": "00u-nadia", "preferred_username": "nadia", "email": "nadia@acme.example",
                          "given_name": "Nadia", "name": "Nadia Haddad", "groups": ["aspora-fincrime"]}  # fmt: skip
        settings.OIDC_PROVIDER_NAME = PROVIDER_NAME
        settings.OIDC_RP_CLIENT_ID, settings.OIDC_RP_CLIENT_SECRET = CLIENT_ID, CLIENT_SECRET
        settings.OIDC_OP_ISSUER = running.issuer
        oidc._discovered.clear()
        yield running
        oidc._discovered.clear()


def test_a_person_signs_in_with_the_provider(live_server, page, screenshot, provider):  # noqa: F811
    page.goto(f"{live_server.url}/console/")
    screenshot("sign-in-sso")

    page.get_by_role("link", name=f"Sign in with {PROVIDER_NAME}").click()
    page.wait_for_url(f"{live_server.url}/console/")

    assert page.get_by_role("heading", level=1).inner_text() == "What can I help with?"
    assert page.locator(".usermenu .username").inner_text() == "Nadia Haddad"
    assert "/authorize" in provider.paths()
    nadia = User.objects.get(username="nadia")
    assert nadia.memberships.get().team.slug == "fincrime"


def test_a_person_without_a_mapped_group_reads_why_on_the_sign_in_page(live_server, page, provider):  # noqa: F811
    provider.person = {**provider.person, "groups": ["contractors"]}
    page.goto(f"{live_server.url}/login/")

    page.get_by_role("link", name=f"Sign in with {PROVIDER_NAME}").click()
    page.wait_for_url(f"{live_server.url}/login/")

    assert page.get_by_role("alert").inner_text() == (
        f"Your {PROVIDER_NAME} account is in no group that Aspora maps to a tenant (your groups: contractors). "
        "Ask an Aspora admin to add an SSO group rule for one of them."
    )
    assert not User.objects.exists()
