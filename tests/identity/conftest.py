from urllib.parse import urlparse

import pytest
import requests
from django.utils.html import escape

from identity import oidc
from identity.models import SsoGroupRule
from tenants.models import Role
from tests.factories import team_make, tenant_make
from tests.identity.oidc_provider import CLIENT_ID, CLIENT_SECRET, LoopbackOidcProvider

PROVIDER_NAME = "Loopback ID"


@pytest.fixture
def provider():
    with LoopbackOidcProvider() as running:
        running.person = {
            "sub": "00u-nadia",
            "preferred_username": "nadia",
            "email": "nadia@acme.example",
            "email_verified": True,
            "name": "Nadia Haddad",
            "given_name": "Nadia",
            "family_name": "Haddad",
            "groups": ["aspora-ecm-field", "everyone"],
        }
        yield running


@pytest.fixture
def sso(settings, provider):
    """Single sign-on configured against the loopback provider, through its discovery document."""
    settings.OIDC_PROVIDER_NAME = PROVIDER_NAME
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_OP_ISSUER = provider.issuer
    oidc._discovered.clear()
    yield provider
    oidc._discovered.clear()


@pytest.fixture
def acme(db):
    """A tenant whose ECM field team and FinCrime team are managed by SSO group rules."""
    tenant = tenant_make("acme")
    field, fincrime, _ops = (team_make(tenant=tenant, slug=slug) for slug in ("ecm-field", "fincrime", "ops"))
    SsoGroupRule.objects.create(group="aspora-ecm-field", team=field, role=Role.FIELD_AGENT)
    SsoGroupRule.objects.create(group="aspora-ecm-managers", team=field, role=Role.MANAGER)
    SsoGroupRule.objects.create(group="aspora-fincrime", team=fincrime, role=Role.ANALYST)
    return tenant


def sso_sign_in(client, *, next_url: str = "/", callback_query: str | None = None):
    """Click "Sign in with …", let the provider answer, follow its redirect back. Returns
    (the callback's response, the callback URL the provider sent the browser to)."""
    start = client.get("/oidc/authenticate/", {"next": next_url})
    assert start.status_code == 302, start
    answer = requests.get(start.url, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    callback = urlparse(answer.headers["Location"])
    assert callback.path == "/oidc/callback/"
    response = client.get(f"{callback.path}?{callback_query or callback.query}")
    return response, f"{callback.path}?{callback.query}"


def page_alerts(client) -> list[str]:
    """The alerts the sign-in page shows next, as a person reads them."""
    page = client.get("/login/")
    alerts = [str(message) for message in page.context["messages"]]
    html = page.content.decode()
    assert all(escape(alert) in html for alert in alerts)
    return alerts
