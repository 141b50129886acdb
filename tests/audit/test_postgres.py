"""Below the app, on PostgreSQL: triggers capture every change to tickets, alerts and cases (bulk
updates and raw SQL included), and no role, the app's own included, can change or remove audit rows.
Tested from the attacker's side with raw SQL."""

from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from audit import services as audit_services
from audit.archive import audit_archive
from audit.models import AuditEvent, AuditSegment, RowChange
from audit.services import audit_chain_verify, audit_event_append
from domains.ecm.demo import ecm_demo_seed
from domains.ecm.models import Ticket
from domains.fincrime.demo import fincrime_demo_seed
from domains.fincrime.models import Alert, Case
from tenants.demo import demo_seed
from tenants.models import User

pytestmark = pytest.mark.services


@pytest.fixture
def world(db):
    demo_seed(password=None)
    ecm_demo_seed(count=6)
    fincrime_demo_seed(count=6)
    return User.objects.get(username="nina")


def _sql(statement: str, params: list | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])


def test_a_bulk_update_of_tickets_is_captured_row_by_row(world):
    tickets = list(Ticket.objects.filter(status="open").order_by("pk")[:3])
    Ticket.objects.filter(pk__in=[t.pk for t in tickets]).update(status="resolved", resolution="fixed")

    changes = RowChange.objects.filter(table_name="ecm_ticket", operation="UPDATE").order_by("row_id")
    assert sorted(int(c.row_id) for c in changes) == sorted(t.pk for t in tickets)
    assert {(c.old["status"], c.new["status"], c.new["resolution"]) for c in changes} == {("open", "resolved", "fixed")}
    assert {c.db_user for c in changes} == {connection.get_connection_params()["user"]}


def test_raw_sql_on_alerts_and_cases_is_captured_with_the_app_actor(world):
    alert = Alert.objects.filter(case__isnull=True).first()
    with transaction.atomic():
        _sql("SELECT set_config('aspora.actor', 'nina', true)")
        _sql("UPDATE fincrime_alert SET score = 3 WHERE id = %s", [alert.pk])
    case = Case.objects.create(alert=alert, reason="structuring", opened_by=world)
    _sql("DELETE FROM fincrime_case WHERE id = %s", [case.pk])

    update = RowChange.objects.get(table_name="fincrime_alert", operation="UPDATE", row_id=str(alert.pk))
    assert (update.old["score"], update.new["score"], update.app_actor) == (alert.score, 3, "nina")
    ops = list(
        RowChange.objects.filter(table_name="fincrime_case", row_id=str(case.pk))
        .order_by("id")
        .values_list("operation", flat=True)
    )
    assert ops == ["INSERT", "DELETE"]
    deleted = RowChange.objects.get(table_name="fincrime_case", operation="DELETE")
    assert (deleted.old["reason"], deleted.new) == ("structuring", None)


def test_an_update_that_changes_nothing_is_not_recorded(world):
    ticket = Ticket.objects.first()
    before = RowChange.objects.count()
    _sql("UPDATE ecm_ticket SET title = title WHERE id = %s", [ticket.pk])
    assert RowChange.objects.count() == before


@pytest.mark.parametrize(
    "attack",
    [
        "UPDATE audit_auditevent SET summary = 'nothing happened' WHERE seq = 1",
        "UPDATE audit_auditevent SET outcome = 'ok'",
        "DELETE FROM audit_auditevent WHERE seq = 1",
        "DELETE FROM audit_auditevent",
        "UPDATE audit_rowchange SET old = NULL",
        "DELETE FROM audit_rowchange",
    ],
)
def test_the_app_role_cannot_alter_or_remove_audit_rows_with_raw_sql(world, attack):
    audit_event_append(action="run.started", actor=world, summary="nina asked")
    Ticket.objects.filter(pk=Ticket.objects.first().pk).update(title="changed")
    rows, changes = AuditEvent.objects.count(), RowChange.objects.count()

    with pytest.raises(DatabaseError, match="audit rows are append-only"), transaction.atomic():
        _sql(attack)

    assert (AuditEvent.objects.count(), RowChange.objects.count()) == (rows, changes)
    assert AuditEvent.objects.get(seq=1).summary == "nina asked"
    assert audit_chain_verify().ok


def test_only_rows_past_the_twelve_month_floor_may_be_deleted(world):
    old = audit_event_append(action="run.started", actor=world, summary="long ago")
    recent = audit_event_append(action="run.started", actor=world, summary="last week")
    # Back-dating needs the trigger off: only the table's owner (a DBA, not the app) could do it.
    _sql("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_append_only")
    _sql("UPDATE audit_auditevent SET occurred_at = %s WHERE id = %s", [timezone.now() - timedelta(days=366), old.pk])
    almost = timezone.now() - timedelta(days=364)
    _sql("UPDATE audit_auditevent SET occurred_at = %s WHERE id = %s", [almost, recent.pk])
    _sql("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_append_only")

    with pytest.raises(DatabaseError, match="append-only: DELETE"), transaction.atomic():
        _sql("DELETE FROM audit_auditevent WHERE id = %s", [recent.pk])
    _sql("DELETE FROM audit_auditevent WHERE id = %s", [old.pk])

    assert list(AuditEvent.objects.values_list("summary", flat=True)) == ["last week"]


def test_grants_and_roles_changed_outside_the_admin_are_captured(world):
    from guardian.shortcuts import assign_perm, remove_perm

    from skills.models import Skill
    from tenants.models import Membership, Team

    team = Team.objects.get(slug="fraud-risk")
    skill = Skill.objects.create(domain_id=_domain_id(), name="wire-check")
    assign_perm("skills.run_skill", team.group, skill)
    remove_perm("skills.run_skill", team.group, skill)
    Membership.objects.filter(user=world).update(role="ops_manager")

    grants = RowChange.objects.filter(table_name="skills_skillgroupobjectpermission").order_by("id")
    assert [c.operation for c in grants] == ["INSERT", "DELETE"]
    assert grants[0].new["group_id"] == team.group_id and grants[0].new["content_object_id"] == skill.pk
    role = RowChange.objects.get(table_name="tenants_membership", operation="UPDATE")
    assert (role.old["role"], role.new["role"]) == ("analyst", "ops_manager")


def _domain_id() -> int:
    from skills.models import Domain

    return Domain.objects.get_or_create(name="fincrime")[0].pk


def _append_ago(monkeypatch, world, days: int, summary: str) -> AuditEvent:
    """A row genuinely written that long ago (back-dating one below the app would break its hash)."""
    when = timezone.now() - timedelta(days=days)
    monkeypatch.setattr(audit_services.timezone, "now", lambda: when)
    try:
        return audit_event_append(action="run.started", actor=world, summary=summary)
    finally:
        monkeypatch.undo()


def _forge_segment_around(row: AuditEvent) -> AuditSegment:
    """What the app role can do: insert a segment row claiming the rows are archived."""
    return AuditSegment.objects.create(
        first_seq=row.seq, last_seq=row.seq, first_prev_hash=row.prev_hash, last_hash=row.hash,
        first_occurred_at=row.occurred_at, last_occurred_at=row.occurred_at, row_count=1,
        sha256="0" * 64, storage_name="audit-forged.jsonl.gz",
    )  # fmt: skip


def test_a_row_inside_the_online_months_cannot_be_deleted_even_with_a_forged_segment_around_it(world, monkeypatch):
    row = _append_ago(monkeypatch, world, 62, "two months ago")
    _forge_segment_around(row)

    with pytest.raises(DatabaseError, match="append-only: DELETE"), transaction.atomic():
        _sql("DELETE FROM audit_auditevent WHERE id = %s", [row.pk])
    with pytest.raises(DatabaseError, match="append-only: DELETE"), transaction.atomic():
        AuditEvent.objects.filter(pk=row.pk)._purge()

    assert AuditEvent.objects.filter(pk=row.pk).exists()


def test_a_row_past_the_online_months_cannot_be_deleted_without_a_segment(world, monkeypatch):
    row = _append_ago(monkeypatch, world, 155, "five months ago")

    with pytest.raises(DatabaseError, match="append-only: DELETE"), transaction.atomic():
        _sql("DELETE FROM audit_auditevent WHERE id = %s", [row.pk])

    assert AuditEvent.objects.filter(pk=row.pk).exists()


def test_the_archive_moves_a_five_month_old_row_the_trigger_allows_it(world, settings, monkeypatch):
    settings.ASPORA_RETENTION = {}
    row = _append_ago(monkeypatch, world, 155, "five months ago")
    fresh = audit_event_append(action="run.started", actor=world, summary="today")

    (segment,) = audit_archive()

    assert (segment.first_seq, segment.last_seq) == (row.seq, row.seq)
    assert not AuditEvent.objects.filter(pk=row.pk).exists() and AuditEvent.objects.filter(pk=fresh.pk).exists()
    assert audit_chain_verify().ok


@pytest.mark.parametrize(
    "attack",
    ["UPDATE audit_auditsegment SET sha256 = repeat('0', 64)", "DELETE FROM audit_auditsegment"],
)
def test_a_segment_row_cannot_be_altered_or_removed_to_cover_tracks(world, settings, attack, monkeypatch):
    settings.ASPORA_RETENTION = {}
    _append_ago(monkeypatch, world, 155, "five months ago")
    (segment,) = audit_archive()

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        _sql(attack)

    assert AuditSegment.objects.get().sha256 == segment.sha256


def test_a_forged_segment_that_let_rows_go_is_exposed_by_verify_audit(world, monkeypatch):
    """Between 3 and 12 months a forged segment row lets the app role delete rows; verify_audit then fails."""
    row = _append_ago(monkeypatch, world, 155, "five months ago")
    audit_event_append(action="run.started", actor=world, summary="today")
    _forge_segment_around(row)
    _sql("DELETE FROM audit_auditevent WHERE id = %s", [row.pk])

    report = audit_chain_verify()

    assert (report.ok, report.segment, report.broken_seq) == (False, "audit-forged.jsonl.gz", row.seq)
    assert "missing from the archive storage" in report.reason
