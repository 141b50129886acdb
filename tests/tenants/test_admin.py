import re

import pytest
from django.urls import reverse

from tenants.models import ApiToken, ChannelIdentity
from tenants.services import api_token_authenticate
from tests.factories import user_make

CHANGELISTS = ["user", "tenant", "team", "membership", "channelidentity", "apitoken"]


@pytest.fixture
def admin_client_for(client, tenant):
    superuser = user_make("root", tenant=tenant, is_staff=True, is_superuser=True)
    client.force_login(superuser)
    return client


@pytest.mark.parametrize("model", CHANGELISTS)
def test_every_tenants_model_has_a_searchable_admin(admin_client_for, analyst, model):
    url = reverse(f"admin:tenants_{model}_changelist")

    assert admin_client_for.get(url).status_code == 200
    assert admin_client_for.get(url, {"q": "ana"}).status_code == 200


def test_channel_identity_admin_lists_who_it_maps_to(admin_client_for, analyst):
    ChannelIdentity.objects.create(provider="slack", workspace="T0001", external_user_id="U0ANA", user=analyst)

    page = admin_client_for.get(reverse("admin:tenants_channelidentity_changelist")).content.decode()

    assert "U0ANA" in page
    assert "T0001" in page


def test_adding_a_token_in_the_admin_shows_it_once_and_stores_a_digest(admin_client_for, analyst):
    response = admin_client_for.post(
        reverse("admin:tenants_apitoken_add"), {"user": analyst.pk, "name": "reporting"}, follow=True
    )

    raw = re.search(r"asp_[0-9a-f]{8}_[A-Za-z0-9_-]+", response.content.decode()).group(0)
    token = ApiToken.objects.get(name="reporting")
    assert token.user == analyst
    assert raw not in token.digest
    assert api_token_authenticate(raw=raw) == analyst
    detail = admin_client_for.get(reverse("admin:tenants_apitoken_change", args=[token.pk])).content.decode()
    assert raw not in detail


def test_people_without_staff_access_cannot_open_the_admin(client, analyst):
    client.force_login(analyst)

    response = client.get(reverse("admin:tenants_user_changelist"))

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
