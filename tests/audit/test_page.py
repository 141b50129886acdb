"""The audit page: who may see it, what the filters select, pagination, and the CSV export."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import audit_event_append
from tenants.demo import demo_seed
from tenants.models import Team, User


@pytest.fixture
def people(db):
    demo_seed(password=None)
    return {user.username: user for user in User.objects.all()}


def _row(user: User, **fields) -> AuditEvent:
    team = user.memberships.first().team if user.memberships.exists() else None
    return audit_event_append(
        actor=user,
        tenant_id=user.tenant_id,
        team_id=team.pk if team else None,
        **{"action": "run.started", "channel": "web", **fields},
    )


@pytest.mark.parametrize(
    ("username", "status"),
    [("olivia", 200), ("admin", 200), ("sarah", 403), ("raj", 403), ("omar", 403), ("paula", 403)],
)
def test_only_ops_managers_admins_and_staff_see_the_audit(client, people, username, status):
    client.force_login(people[username])

    assert client.get("/audit/").status_code == status
    assert client.get("/audit/export.csv").status_code == status
    assert ('href="/audit/"' in client.get("/").content.decode()) is (status == 200)


def test_someone_signed_out_is_sent_to_sign_in(client, db):
    response = client.get("/audit/")
    assert (response.status_code, response["Location"]) == (302, "/login/?next=/audit/")


def test_an_ops_manager_sees_their_tenant_only(client, people):
    _row(people["sarah"], summary="sarah asked my-tickets")
    _row(people["theo"], summary="theo asked something elsewhere")
    client.force_login(people["olivia"])

    page = client.get("/audit/").content.decode()

    assert "sarah asked my-tickets" in page
    assert "theo asked something elsewhere" not in page


def test_filters_narrow_by_person_team_skill_channel_outcome_and_time(client, people):
    ecm_field = Team.objects.get(slug="ecm-field")
    _row(people["sarah"], skill="my-tickets", domain="ecm", outcome="ok", summary="A: sarah on web")
    _row(people["sarah"], skill="escalate-ticket", domain="ecm", channel="slack", outcome="error", summary="B: slack")
    _row(people["raj"], skill="alert-triage", domain="fincrime", outcome="ok", summary="C: raj")
    client.force_login(people["olivia"])

    def shown(**query) -> set[str]:
        rows = client.get("/audit/", query).context["page"].object_list
        return {row.summary[0] for row in rows}

    assert shown() == {"A", "B", "C"}
    assert shown(person="sarah") == {"A", "B"}
    assert shown(team=ecm_field.pk) == {"A", "B"}
    assert shown(domain="fincrime") == {"C"}
    assert shown(skill="escalate-ticket") == {"B"}
    assert shown(channel="slack") == {"B"}
    assert shown(outcome="error") == {"B"}
    today = timezone.localdate()
    assert shown(since=str(today), until=str(today)) == {"A", "B", "C"}
    assert shown(until=str(today - timedelta(days=1))) == set()


def test_filters_that_match_nothing_say_so(client, people):
    _row(people["sarah"], skill="my-tickets", domain="ecm", outcome="ok", summary="sarah on web")
    client.force_login(people["olivia"])

    page = client.get("/audit/", {"outcome": "error"}).content.decode()

    assert "No audit rows match these filters." in page
    assert "0 rows in the online window" in page


def test_a_bad_date_range_is_named(client, people):
    client.force_login(people["olivia"])
    response = client.get("/audit/", {"since": "2026-05-02", "until": "2026-05-01", "outcome": "maybe"})

    assert response.status_code == 400
    page = response.content.decode()
    assert "“From” is after “To”" in page
    assert "Select a valid choice. maybe is not one of the available choices." in page


def test_pages_of_fifty_newest_first(client, people):
    for n in range(120):
        _row(people["sarah"], summary=f"row {n}")
    client.force_login(people["olivia"])

    first = client.get("/audit/").context["page"]
    last = client.get("/audit/", {"page": 3}).context["page"]

    assert (first.paginator.count, first.paginator.num_pages) == (120, 3)
    assert first.object_list[0].summary == "row 119"
    assert [row.summary for row in last.object_list][-1] == "row 0"
    assert len(last.object_list) == 20


def test_csv_export_holds_exactly_the_filtered_rows(client, people):
    _row(people["sarah"], skill="my-tickets", summary='=HYPERLINK("http://evil")', latency_ms=420, cost_usd="0.0031")
    _row(people["raj"], skill="alert-triage", summary="raj row")
    client.force_login(people["olivia"])

    response = client.get("/audit/export.csv", {"person": "sarah"})
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(body)))

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="aspora-audit-')
    assert len(rows) == 1
    assert (rows[0]["actor"], rows[0]["skill"], rows[0]["latency_ms"], rows[0]["cost_usd"]) == (
        "sarah",
        "my-tickets",
        "420",
        "0.003100",
    )
    # A spreadsheet opening the export must not run a formula someone typed into a question.
    assert rows[0]["summary"] == '\'=HYPERLINK("http://evil")'


def test_rows_older_than_the_online_window_need_a_from_date(client, people, settings):
    row = _row(people["sarah"], summary="four months ago")
    old = timezone.now() - timedelta(days=124)
    # Back-dating a row is only possible below the app; the page must still window it out.
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_append_only")
        cursor.execute("UPDATE audit_auditevent SET occurred_at = %s WHERE id = %s", [old, row.pk])
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_append_only")
    client.force_login(people["olivia"])

    assert "four months ago" not in client.get("/audit/").content.decode()
    since = (old - timedelta(days=1)).date().isoformat()
    assert "four months ago" in client.get("/audit/", {"since": since}).content.decode()


def test_the_page_says_plainly_that_older_entries_are_archived_offline(client, people, settings, monkeypatch):
    from audit import services as audit_services
    from audit.archive import audit_archive

    settings.ASPORA_RETENTION = {}
    long_ago = timezone.now() - timedelta(days=200)
    monkeypatch.setattr(audit_services.timezone, "now", lambda: long_ago)
    _row(people["sarah"], summary="two hundred days ago")
    monkeypatch.undo()
    client.force_login(people["olivia"])
    assert "archived offline" not in client.get("/audit/").content.decode()

    (segment,) = audit_archive()

    page = client.get("/audit/", {"since": (long_ago - timedelta(days=1)).date().isoformat()}).content.decode()
    assert "two hundred days ago" not in page
    assert f"Older entries are archived offline: 1 segment up to {segment.last_occurred_at:%-d %b %Y %H:%M}" in page
    assert "manage.py audit_export --from YYYY-MM-DD --to YYYY-MM-DD" in page
