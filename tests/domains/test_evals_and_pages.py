import io

import pytest
from django.core.management import CommandError, call_command

from tenants.models import User


def test_every_example_in_the_packs_passes_on_the_offline_model(demo):
    out = io.StringIO()

    try:
        call_command("eval_skills", stdout=out)
    except CommandError:
        pytest.fail(out.getvalue())

    lines = out.getvalue().splitlines()
    assert lines[-1].endswith(" passed, 0 failed")
    assert int(lines[-1].split()[0]) >= 26
    assert not [line for line in lines if line.startswith("✗")]


def test_a_ticket_page_for_its_team_and_not_found_for_others(client, demo):
    client.force_login(User.objects.get(username="sarah"))
    page = client.get("/ecm/tickets/1042/")
    client.force_login(User.objects.get(username="raj"))
    hidden = client.get("/ecm/tickets/1042/")

    assert page.status_code == 200
    assert "#1042 Transfer stuck at beneficiary bank" in page.content.decode()
    assert hidden.status_code == 404


def test_an_alert_page_for_fincrime_and_not_found_for_ecm(client, demo):
    client.force_login(User.objects.get(username="raj"))
    page = client.get("/fincrime/alerts/5013/")
    client.force_login(User.objects.get(username="sarah"))
    hidden = client.get("/fincrime/alerts/5013/")

    assert page.status_code == 200
    assert "Viktor PETROV" in page.content.decode()
    assert hidden.status_code == 404
