"""Closing and reopening a FinCrime case on the alert page: who may, what it leaves, what refuses."""

import re

import pytest
from django.test import Client
from django.utils import timezone
from django.utils.dateformat import format as date_format

from audit.models import AuditEvent
from domains.fincrime.models import Alert, AlertType, Case, CaseNote, Customer
from domains.fincrime.services import alert_escalate_to_case
from tenants.context import Channel
from tenants.models import Membership, Role, Team, User
from tenants.services import asker_context_build


def _as(client: Client, username: str) -> Client:
    client.force_login(User.objects.get(username=username))
    return client


def _url(case: Case, action: str = "") -> str:
    return f"/fincrime/alerts/{case.alert.number}/" + (f"case/{action}/" if action else "")


def _state(case: Case) -> tuple:
    """What a refused request must leave exactly as it was."""
    case.refresh_from_db()
    return (
        case.closed_at,
        case.outcome,
        CaseNote.objects.filter(alert=case.alert).count(),
        AuditEvent.objects.filter(action__startswith="case.").count(),
    )


def test_a_manager_closes_a_case_with_an_outcome(client, case):
    page = _as(client, "olivia").get(_url(case)).content.decode()
    assert "Open since" in page and "Close case" in page
    assert "Escalated to a case</span>" in page

    response = client.post(_url(case, "close"), {"outcome": "sar_filed", "detail": "SAR ref 2026/117"}, follow=True)

    case.refresh_from_db()
    assert response.redirect_chain == [(_url(case), 302)]
    assert abs(case.closed_at - timezone.now()).total_seconds() < 60
    assert (case.closed_by.username, case.outcome, case.outcome_detail) == ("olivia", "sar_filed", "SAR ref 2026/117")
    assert case.alert.notes.last().text == "Case closed: SAR filed — SAR ref 2026/117"
    assert case.alert.notes.last().author.username == "olivia"
    page = response.content.decode()
    assert f"Closed on {date_format(timezone.localtime(case.closed_at), 'j M Y')}</strong> by Olivia Brown" in page
    assert "SAR filed — SAR ref 2026/117" in page
    assert "Case closed. Its retention period starts today." in page
    assert "Reopen case" in page and "Close case" not in page
    assert "Escalated to a case · case closed</span>" in page
    event = AuditEvent.objects.get(action="case.closed")
    assert (event.actor_label, event.tenant_id, event.team_id, event.channel) == (
        "olivia",
        case.alert.tenant_id,
        case.alert.team_id,
        "web",
    )
    assert (event.object_type, event.object_id, event.domain) == ("fincrime_case", str(case.pk), "fincrime")
    assert event.data == {"alert": case.alert.number, "outcome": "sar_filed", "detail": "SAR ref 2026/117"}


def test_reopening_a_closed_case_clears_its_closure(client, case):
    _as(client, "olivia").post(_url(case, "close"), {"outcome": "no_suspicion"})

    response = client.post(_url(case, "reopen"), {"reason": "New transfers to the same counterparty"}, follow=True)

    case.refresh_from_db()
    assert (case.closed_at, case.closed_by, case.outcome, case.outcome_detail) == (None, None, "", "")
    assert list(case.alert.notes.values_list("text", flat=True))[-2:] == [
        "Case closed: No suspicion confirmed",
        "Case reopened: New transfers to the same counterparty",
    ]
    page = response.content.decode()
    assert "Case reopened." in page and "Open since" in page and "Close case" in page
    assert AuditEvent.objects.get(action="case.reopened").data == {
        "alert": case.alert.number,
        "reason": "New transfers to the same counterparty",
    }


def test_an_analyst_of_the_team_sees_the_case_but_may_not_decide_it(client, case):
    before = _state(case)

    page = _as(client, "raj").get(_url(case)).content.decode()
    close = client.post(_url(case, "close"), {"outcome": "no_suspicion"})

    assert "Open since" in page and "Close case" not in page
    assert "A manager or ops manager of the FinCrime team closes the case." in page
    assert close.status_code == 403
    assert _state(case) == before


def test_an_analyst_may_not_reopen_a_closed_case_either(client, case):
    _as(client, "olivia").post(_url(case, "close"), {"outcome": "law_enforcement"})
    before = _state(case)

    reopen = _as(client, "nina").post(_url(case, "reopen"), {"reason": "I disagree"})

    assert reopen.status_code == 403
    assert _state(case) == before and before[0] is not None


def test_a_manager_of_another_team_gets_not_found(client, case):
    """Omar manages ECM teams: a manager's role counts only in the alert's own team."""
    before = _state(case)

    response = _as(client, "omar").post(_url(case, "close"), {"outcome": "no_suspicion"})

    assert response.status_code == 404
    assert _state(case) == before


def test_another_tenants_manager_closes_only_their_own_alert_of_the_same_number(client, case):
    northwind = Team.objects.get(slug="northwind-ops")
    Membership.objects.filter(user__username="theo").update(role=Role.OPS_MANAGER)
    before = _state(case)

    foreign = _as(client, "theo").post(_url(case, "close"), {"outcome": "no_suspicion"})
    customer = Customer.objects.create(
        tenant=northwind.tenant, reference="NW-1", name="N. Customer", country="FR", onboarded_at=timezone.now()
    )
    own_alert = Alert.objects.create(
        tenant=northwind.tenant, team=northwind, number=case.alert.number, type=AlertType.CUSTOMER_RISK,
        customer=customer, score=60, summary="Northwind's own alert", created_at=timezone.now(),
    )  # fmt: skip
    theo = asker_context_build(user=User.objects.get(username="theo"), channel=Channel.WEB)
    own_case = alert_escalate_to_case(context=theo, alert=own_alert, reason="theirs")
    own = client.post(_url(case, "close"), {"outcome": "no_suspicion"})

    assert foreign.status_code == 404
    assert own.status_code == 302
    own_case.refresh_from_db()
    assert own_case.closed_at is not None
    assert _state(case)[:3] == before[:3]  # Aspora Remit's case: untouched


def test_a_post_without_the_csrf_token_is_refused(case):
    client = _as(Client(enforce_csrf_checks=True), "olivia")
    before = _state(case)

    response = client.post(_url(case, "close"), {"outcome": "sar_filed"})

    assert response.status_code == 403
    assert _state(case) == before


def test_an_anonymous_post_goes_to_sign_in(client, case):
    before = _state(case)

    response = client.post(_url(case, "close"), {"outcome": "sar_filed"})

    assert response.status_code == 302 and "/login" in response["Location"]
    assert _state(case) == before


@pytest.mark.parametrize(
    ("action", "posted", "field", "message"),
    [
        ("close", {"outcome": ""}, "case-outcome", "Outcome is required: choose one of SAR filed, No suspicion"),
        ("close", {"outcome": "closed"}, "case-outcome", "&#x27;closed&#x27; is not an outcome: choose one of"),
        ("close", {"outcome": "other", "detail": "  "}, "case-detail", "Detail (what the outcome was, for Other) is"),
        ("reopen", {"reason": ""}, "case-reason", "Reason for reopening is required."),
    ],
)
def test_a_missing_field_is_named_next_to_it_and_nothing_changes(client, case, action, posted, field, message):
    _as(client, "olivia")
    if action == "reopen":
        client.post(_url(case, "close"), {"outcome": "sar_filed"})
    before = _state(case)

    response = client.post(_url(case, action), posted)

    page = response.content.decode()
    assert response.status_code == 422
    assert message in page
    assert re.search(rf'<(select|textarea) id="{field}"[^>]* aria-invalid="true"', page)
    assert page.count('aria-invalid="true"') == 1
    assert _state(case) == before


def test_other_with_a_detail_closes_and_keeps_what_was_typed_on_a_refusal(client, case):
    refused = _as(client, "olivia").post(_url(case, "close"), {"outcome": "other", "detail": ""}).content.decode()
    client.post(_url(case, "close"), {"outcome": "other", "detail": "Customer exited; account closed"})

    assert '<option value="other" selected>Other</option>' in refused
    case.refresh_from_db()
    assert (case.outcome, case.outcome_detail) == ("other", "Customer exited; account closed")


def test_closing_a_closed_case_says_so(client, case):
    _as(client, "olivia").post(_url(case, "close"), {"outcome": "sar_filed"})
    before = _state(case)

    response = client.post(_url(case, "close"), {"outcome": "no_suspicion"}, follow=True)

    page = response.content.decode()
    assert f"The case for alert {case.alert.number} is already closed" in page
    assert "reopen it first to close it again" in page
    assert _state(case) == before


def test_an_alert_without_a_case_has_nothing_to_close(client, case):
    other = Alert.objects.filter(team=case.alert.team, case__isnull=True).first()

    page = _as(client, "olivia").get(f"/fincrime/alerts/{other.number}/").content.decode()
    response = client.post(f"/fincrime/alerts/{other.number}/case/close/", {"outcome": "sar_filed"})

    assert 'id="case"' not in page
    assert response.status_code == 404
    assert not Case.objects.filter(alert=other).exists()


def test_closing_is_a_post(client, case):
    assert _as(client, "olivia").get(_url(case, "close")).status_code == 405
