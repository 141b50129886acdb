import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command

from tenants.models import ApiToken, Membership, Team, Tenant, User
from tenants.services import api_token_authenticate


def test_seed_demo_creates_the_demo_world_and_can_run_again(db, capsys, settings):
    settings.DEBUG = True

    call_command("seed_demo")
    first = capsys.readouterr().out
    call_command("seed_demo")

    assert Tenant.objects.count() == 2
    assert set(Team.objects.filter(tenant__slug="aspora-remit").values_list("name", flat=True)) == {
        "ECM field",
        "ECM managers",
        "FinCrime",
        "Fraud risk",
        "Product",
    }
    assert User.objects.count() == 11
    assert Membership.objects.get(user__username="sarah").role == "field_agent"
    assert Membership.objects.get(user__username="omar", is_primary=True).team.name == "ECM field"
    assert User.objects.get(username="theo").tenant.slug == "northwind"
    assert authenticate(username="sarah", password="aspora-demo") is not None
    assert "sarah   aspora-demo" in first
    assert "Log in at http://127.0.0.1:8000/" in first


def test_seed_demo_refuses_production_settings_without_force(db, settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="Refusing to seed demo accounts with DEBUG off"):
        call_command("seed_demo")
    assert not User.objects.exists()


def test_forced_seed_in_production_prints_random_passwords_not_the_demo_one(db, settings, capsys):
    settings.DEBUG = False

    call_command("seed_demo", "--force")
    out = capsys.readouterr().out
    call_command("seed_demo", "--force")
    again = capsys.readouterr().out

    assert "aspora-demo" not in out
    assert authenticate(username="sarah", password="aspora-demo") is None
    sarah_line = next(line for line in out.splitlines() if line.strip().startswith("sarah "))
    assert authenticate(username="sarah", password=sarah_line.split()[1]) is not None
    assert "(existing account, unchanged)" in again


def test_create_token_prints_a_working_token_once(db, capsys, settings):
    settings.DEBUG = True
    call_command("seed_demo")
    capsys.readouterr()

    call_command("create_token", "--user", "raj", "--name", "notebook")
    raw = capsys.readouterr().out.strip()

    assert api_token_authenticate(raw=raw).username == "raj"


def test_create_token_for_an_unknown_user_names_them(db):
    with pytest.raises(CommandError, match="No active user named 'ghost'"):
        call_command("create_token", "--user", "ghost")
    assert not ApiToken.objects.exists()
