from datetime import timedelta

import pytest
from django.utils import timezone

from tenants.models import ApiToken, Membership, Role
from tenants.services import (
    NoTeamError,
    api_token_authenticate,
    api_token_create,
    api_token_revoke,
    asker_context_build,
)
from tests.factories import team_make, tenant_make, user_make


def test_a_token_is_stored_only_as_a_digest_and_authenticates_its_owner(analyst):
    token, raw = api_token_create(user=analyst, name="laptop")

    stored = ApiToken.objects.get(pk=token.pk)
    assert raw.startswith(f"asp_{stored.prefix}_")
    assert raw not in (stored.digest, stored.prefix, stored.name)
    assert len(stored.digest) == 64
    assert api_token_authenticate(raw=raw) == analyst
    assert ApiToken.objects.get(pk=token.pk).last_used_at is not None


def test_last_used_is_kept_to_the_minute_so_a_busy_client_does_not_write_on_every_request(analyst):
    token, raw = api_token_create(user=analyst, name="script")
    api_token_authenticate(raw=raw)
    first = ApiToken.objects.get(pk=token.pk).last_used_at

    api_token_authenticate(raw=raw)
    assert ApiToken.objects.get(pk=token.pk).last_used_at == first

    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - timedelta(minutes=1))
    api_token_authenticate(raw=raw)
    assert ApiToken.objects.get(pk=token.pk).last_used_at > first


def test_revoked_expired_unknown_and_inactive_tokens_do_not_authenticate(analyst, team):
    revoked, revoked_raw = api_token_create(user=analyst, name="old")
    api_token_revoke(token=revoked)
    _, expired_raw = api_token_create(user=analyst, name="temp", expires_at=timezone.now() - timedelta(minutes=1))
    leaver = user_make("leaver", team=team, is_active=False)
    _, leaver_raw = api_token_create(user=leaver, name="cli")

    assert api_token_authenticate(raw=revoked_raw) is None
    assert api_token_authenticate(raw=expired_raw) is None
    assert api_token_authenticate(raw=leaver_raw) is None
    assert api_token_authenticate(raw="asp_deadbeef_not-a-token") is None


def test_context_uses_the_primary_team_unless_another_of_the_askers_teams_is_named(analyst, team):
    fincrime = team_make(tenant=team.tenant, slug="fincrime")
    Membership.objects.create(user=analyst, team=fincrime, role=Role.ANALYST)

    assert asker_context_build(user=analyst, channel="slack").team == team
    assert asker_context_build(user=analyst, channel="slack", team=fincrime).team == fincrime


def test_context_refuses_a_team_the_asker_is_not_in(analyst, team):
    other_tenant_team = team_make(tenant=tenant_make("globex"), slug="ops")
    same_tenant_team = team_make(tenant=team.tenant, slug="fraud-risk")

    for foreign in (other_tenant_team, same_tenant_team):
        with pytest.raises(NoTeamError, match="ana is not a member of the team"):
            asker_context_build(user=analyst, channel="web", team=foreign)


def test_context_for_a_person_without_a_team_is_a_clear_error(tenant):
    loner = user_make("loner", tenant=tenant)

    with pytest.raises(NoTeamError) as refused:
        asker_context_build(user=loner, channel="web")
    assert refused.value.message == "loner belongs to no team, so there is no context to run in."
