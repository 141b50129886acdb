import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from tenants.context import AskerContext
from tenants.models import ChannelIdentity, Membership, Role, Team
from tests.factories import team_make, tenant_make, user_make


def test_team_slug_is_unique_within_a_tenant_but_not_across(tenant):
    team_make(tenant=tenant, slug="ops")
    other = tenant_make("globex")

    team_make(tenant=other, slug="ops")
    with pytest.raises(IntegrityError), transaction.atomic():
        Team.objects.create(tenant=tenant, name="Ops again", slug="ops")


def test_a_person_joins_a_team_once_and_has_one_primary_team(team, analyst):
    second = team_make(tenant=team.tenant, slug="fincrime")

    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(user=analyst, team=team, role=Role.MANAGER)
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(user=analyst, team=second, role=Role.ANALYST, is_primary=True)
    Membership.objects.create(user=analyst, team=second, role=Role.ANALYST)
    assert analyst.memberships.count() == 2


def test_membership_in_another_tenants_team_does_not_validate(team):
    outsider = user_make("mallory", tenant=tenant_make("globex"))

    with pytest.raises(ValidationError) as refused:
        Membership(user=outsider, team=team, role=Role.ANALYST).full_clean()
    assert refused.value.message_dict["team"] == ["A person can only join teams of their own tenant."]


def test_a_channel_identity_maps_to_one_person_per_provider_and_workspace(analyst, team):
    other = user_make("bob", team=team)
    ChannelIdentity.objects.create(provider="slack", workspace="T1", external_user_id="U1", user=analyst)
    ChannelIdentity.objects.create(provider="slack", workspace="T2", external_user_id="U1", user=other)
    ChannelIdentity.objects.create(provider="whatsapp", workspace="T1", external_user_id="U1", user=other)

    with pytest.raises(IntegrityError), transaction.atomic():
        ChannelIdentity.objects.create(provider="slack", workspace="T1", external_user_id="U1", user=other)


def test_asker_context_holds_one_tenant_and_cannot_be_widened(analyst, team):
    context = AskerContext(user=analyst, team=team, tenant=team.tenant, channel="web", extra={"ticket_id": 7})

    assert context.summary() == {
        "user": "ana",
        "user_display_name": "ana",
        "team": "Ecm Field",
        "tenant": "Acme",
        "channel": "web",
        "ticket_id": "7",
    }
    with pytest.raises(AttributeError):
        context.team = None
    with pytest.raises(TypeError):
        context.extra["ticket_id"] = 8


def test_asker_context_refuses_a_team_of_another_tenant(analyst):
    foreign_team = team_make(tenant=tenant_make("globex"), slug="ops")

    with pytest.raises(ValueError, match="one tenant"):
        AskerContext(user=analyst, team=foreign_team, tenant=analyst.tenant, channel="web")


def test_asker_context_refuses_an_unknown_channel(analyst, team):
    with pytest.raises(ValueError, match="unknown channel 'fax'"):
        AskerContext(user=analyst, team=team, tenant=team.tenant, channel="fax")
