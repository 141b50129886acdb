"""Single sign-on through the loopback OpenID Connect provider, driven through the real views."""

import pytest

from identity.models import SsoGroupRule, SsoIdentity
from tenants.models import Membership, Role, User
from tests.factories import team_make, tenant_make, user_make
from tests.identity.conftest import PROVIDER_NAME, page_alerts, sso_sign_in

NOT_VERIFIED = f"Sign-in with {PROVIDER_NAME} failed: its answer could not be verified."


def _signed_in_as(client) -> User | None:
    user = client.get("/").wsgi_request.user
    return user if user.is_authenticated else None


def _roles(user: User) -> dict[str, str]:
    return dict(Membership.objects.filter(user=user).values_list("team__slug", "role"))


def test_without_sso_settings_the_sign_in_page_has_no_provider_button(client, db):
    page = client.get("/login/")

    assert "Sign in with" not in page.content.decode()
    assert client.get("/oidc/authenticate/").status_code == 404
    assert client.get("/oidc/callback/?code=x&state=y").status_code == 404


def test_the_sign_in_page_offers_the_provider_when_configured(client, sso, acme):
    html = client.get("/login/?next=/console/").content.decode()

    assert f"Sign in with {PROVIDER_NAME}</a>" in html
    assert 'href="/oidc/authenticate/?next=/console/"' in html


def test_a_new_person_signs_in_and_gets_their_tenant_team_and_role(client, sso, acme):
    response, _ = sso_sign_in(client, next_url="/console/")

    assert response.status_code == 302 and response.url == "/console/"
    user = _signed_in_as(client)
    assert user is not None and user.username == "nadia"
    assert (user.tenant, user.email, user.display_name, user.first_name) == (
        acme, "nadia@acme.example", "Nadia Haddad", "Nadia",
    )  # fmt: skip
    assert _roles(user) == {"ecm-field": Role.FIELD_AGENT}
    assert user.memberships.get().is_primary
    assert not user.has_usable_password()
    assert SsoIdentity.objects.get(user=user).subject == "00u-nadia"
    # The browser went through discovery, authorize with a PKCE challenge, token, JWKS and userinfo.
    authorize = next(params for method, path, params in sso.seen if path == "/authorize")
    assert authorize["code_challenge_method"] == "S256" and authorize["nonce"]
    assert {"/.well-known/openid-configuration", "/token", "/jwks", "/userinfo"} <= set(sso.paths())


def test_memberships_follow_the_groups_at_every_sign_in(client, sso, acme):
    sso_sign_in(client)
    user = User.objects.get(username="nadia")
    ops = acme.teams.get(slug="ops")  # no rule names it: the admin's to grant
    Membership.objects.create(user=user, team=ops, role=Role.OPS_MANAGER)

    client.logout()
    sso.person = {**sso.person, "groups": ["aspora-ecm-field", "aspora-ecm-managers", "aspora-fincrime"]}
    sso_sign_in(client)
    assert _roles(user) == {"ecm-field": Role.MANAGER, "fincrime": Role.ANALYST, "ops": Role.OPS_MANAGER}

    client.logout()
    sso.person = {**sso.person, "groups": ["aspora-fincrime"], "name": "Nadia H."}
    sso_sign_in(client)
    user.refresh_from_db()
    assert _roles(user) == {"fincrime": Role.ANALYST, "ops": Role.OPS_MANAGER}
    assert user.display_name == "Nadia H."
    assert user.memberships.filter(is_primary=True).count() == 1
    assert set(user.groups.values_list("name", flat=True)) == {"team:acme/fincrime", "team:acme/ops"}


def test_an_existing_local_account_is_linked_by_its_email_and_keeps_its_name(client, sso, acme):
    sarah = user_make("sarah", team=acme.teams.get(slug="ops"), email="Nadia@acme.example")

    sso_sign_in(client)

    assert _signed_in_as(client) == sarah
    assert User.objects.count() == 1
    sarah.refresh_from_db()
    assert sarah.username == "sarah" and sarah.has_usable_password()
    assert _roles(sarah) == {"ops": Role.ANALYST, "ecm-field": Role.FIELD_AGENT}
    # Later sign-ins find her by the provider's subject, even with a new email there.
    client.logout()
    sso.person = {**sso.person, "email": "nadia.haddad@acme.example"}
    sso_sign_in(client)
    assert _signed_in_as(client) == sarah


def test_a_person_whose_groups_map_to_no_tenant_is_refused_with_the_reason(client, sso, acme):
    sso.person = {**sso.person, "groups": ["everyone", "vpn-users"]}

    response, _ = sso_sign_in(client)

    assert response.url == "/login/"
    assert _signed_in_as(client) is None
    assert not User.objects.exists()
    assert page_alerts(client) == [
        f"Your {PROVIDER_NAME} account is in no group that Aspora maps to a tenant (your groups: everyone, "
        "vpn-users). Ask an Aspora admin to add an SSO group rule for one of them."
    ]


def test_groups_of_two_tenants_are_refused(client, sso, acme):
    globex = tenant_make("globex")
    SsoGroupRule.objects.create(group="everyone", team=team_make(tenant=globex, slug="ops"), role=Role.ANALYST)

    sso_sign_in(client)

    assert _signed_in_as(client) is None
    assert "map to more than one tenant (Acme, Globex)" in page_alerts(client)[0]


def test_an_account_of_another_tenant_is_not_moved_by_sign_on(client, sso, acme):
    user_make("nadia-globex", team=team_make(tenant=tenant_make("globex")), email="nadia@acme.example")

    sso_sign_in(client)

    assert _signed_in_as(client) is None
    assert "belongs to another tenant" in page_alerts(client)[0]


def test_a_deactivated_account_cannot_sign_in_through_the_provider(client, sso, acme):
    sso_sign_in(client)
    User.objects.filter(username="nadia").update(is_active=False)
    client.logout()

    sso_sign_in(client)

    assert _signed_in_as(client) is None
    assert page_alerts(client) == ["Your Aspora account is deactivated; ask an Aspora admin."]


def test_a_declined_sign_in_says_so(client, sso, acme):
    sso.tamper = {"deny": True}

    response, _ = sso_sign_in(client)

    assert response.url == "/login/"
    assert page_alerts(client) == [f"Sign-in with {PROVIDER_NAME} failed: The person declined."]


@pytest.mark.parametrize(
    "tamper",
    [
        {"sign_with_attacker_key": True},
        {"aud": "another-client"},
        {"aud": ["aspora-portal", "another-client"]},  # several audiences and no azp naming us
        {"iss": "http://127.0.0.1:1/evil"},
        {"nonce": "a-nonce-from-another-sign-in"},
        {"time_offset": -3600},  # expired an hour ago, well past the leeway
        {"userinfo_sub": "00u-someone-else"},
    ],
    ids=["bad-signature", "wrong-audience", "extra-audience", "wrong-issuer", "bad-nonce", "expired", "other-sub"],
)
def test_a_forged_or_stale_answer_signs_nobody_in(client, sso, acme, tamper):
    sso.tamper = tamper

    response, _ = sso_sign_in(client)

    assert response.status_code == 302 and response.url == "/login/"
    assert _signed_in_as(client) is None
    assert not User.objects.exists()
    assert page_alerts(client)[0].startswith(NOT_VERIFIED)


def test_a_callback_with_a_forged_state_or_replayed_is_refused(client, sso, acme):
    client.get("/oidc/authenticate/")  # a sign-in this browser started, with its own state
    response, callback = sso_sign_in(client, callback_query=None)
    assert _signed_in_as(client) is not None
    client.logout()

    # The same answer again (replay), then one with a state this browser never made.
    forged = callback.replace("state=", "state=forged")
    for url in (callback, forged):
        client.get("/oidc/authenticate/")
        response = client.get(url)
        assert response.status_code == 302 and response.url == "/login/"
        assert _signed_in_as(client) is None
        assert "was not started from this browser, or was already used" in page_alerts(client)[0]


def test_a_discovery_document_naming_another_issuer_is_not_used(client, sso, acme):
    sso.tamper = {"discovery_issuer": "http://127.0.0.1:1/evil"}

    response = client.get("/oidc/authenticate/")

    assert response.url == "/login/"
    assert "/authorize" not in sso.paths()
    assert "names the issuer 'http://127.0.0.1:1/evil'" in page_alerts(client)[0]


def test_explicit_endpoints_work_without_discovery(client, settings, sso, acme):
    settings.OIDC_OP_ISSUER = ""
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = f"{sso.issuer}/authorize"
    settings.OIDC_OP_TOKEN_ENDPOINT = f"{sso.issuer}/token"
    settings.OIDC_OP_USER_ENDPOINT = f"{sso.issuer}/userinfo"
    settings.OIDC_OP_JWKS_ENDPOINT = f"{sso.issuer}/jwks"

    sso_sign_in(client)

    assert _signed_in_as(client).username == "nadia"
    assert "/.well-known/openid-configuration" not in sso.paths()


def test_password_sign_in_still_works_and_never_calls_the_provider(client, sso, acme):
    user_make("sarah", team=acme.teams.get(slug="ops"), password="sarahs-pw-123")

    response = client.post("/login/", {"username": "sarah", "password": "sarahs-pw-123"})

    assert response.status_code == 302
    assert _signed_in_as(client).username == "sarah"
    assert sso.seen == []
