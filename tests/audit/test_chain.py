"""The audit chain: linear, hash-linked, append-only in the app, and tampering is named by verify_audit."""

import threading
from decimal import Decimal

import pytest
from django.core.management import call_command, execute_from_command_line
from django.core.management.base import CommandError
from django.db import connection

from audit.models import AuditEvent, AuditImmutableError
from audit.redaction import _fallback_redact, audit_redact
from audit.services import audit_chain_verify, audit_event_append, audit_row_hash
from tests.factories import team_make, tenant_make, user_make


def _tamper(sql: str, params: list) -> None:
    """What someone with direct database access does; on PostgreSQL they must first get past the trigger."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_append_only")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_append_only")


@pytest.fixture
def three_rows(db):
    tenant = tenant_make("acme")
    team = team_make(tenant=tenant, slug="fincrime")
    ana = user_make("ana", team=team)
    return [
        audit_event_append(action="run.started", actor=ana, tenant_id=tenant.pk, team_id=team.pk, channel="web"),
        audit_event_append(action="run.tool_call", actor=ana, data={"args": {"account": "12345678901"}}),
        audit_event_append(action="run.finished", actor=ana, outcome="ok", latency_ms=812, cost_usd=Decimal("0.0042")),
    ]


def test_each_row_carries_the_hash_of_the_one_before(three_rows):
    first, second, third = (AuditEvent.objects.get(pk=row.pk) for row in three_rows)

    assert [first.seq, second.seq, third.seq] == [1, 2, 3]
    assert first.prev_hash == ""
    assert second.prev_hash == first.hash and third.prev_hash == second.hash
    assert third.actor_label == "ana" and third.cost_usd == Decimal("0.004200") and third.latency_ms == 812
    assert audit_row_hash({name: getattr(third, name) for name in ("seq", *_hashed_rest())}) == third.hash


def _hashed_rest():
    from audit.services import HASHED_FIELDS

    return [name for name in HASHED_FIELDS if name != "seq"]


def test_tool_arguments_are_stored_redacted(three_rows):
    stored = AuditEvent.objects.get(seq=2).data["args"]["account"]
    assert "12345678901" not in stored and stored.endswith("8901]")


def test_the_app_cannot_change_or_delete_a_row(three_rows):
    row = AuditEvent.objects.get(seq=1)
    row.summary = "nothing happened"
    with pytest.raises(AuditImmutableError, match="append-only: it cannot be changed"):
        row.save()
    with pytest.raises(AuditImmutableError, match="append-only: it cannot be deleted"):
        row.delete()
    with pytest.raises(AuditImmutableError, match="cannot be updated"):
        AuditEvent.objects.filter(seq=1).update(summary="x")
    with pytest.raises(AuditImmutableError, match="cannot be deleted"):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.count() == 3


def test_verify_audit_passes_an_intact_chain(three_rows, capsys):
    call_command("verify_audit")
    assert capsys.readouterr().out.strip() == "audit chain intact: 3 rows verified"


def test_verify_audit_names_the_row_changed_through_raw_sql(three_rows):
    _tamper("UPDATE audit_auditevent SET summary = %s WHERE seq = %s", ["nothing to see", 2])

    with pytest.raises(CommandError, match=r"broken at row seq=2 .*contents do not match its hash") as raised:
        call_command("verify_audit")
    assert "1 rows before it verified" in str(raised.value)


def test_verify_audit_names_the_row_after_a_deleted_one(three_rows):
    _tamper("DELETE FROM audit_auditevent WHERE seq = %s", [2])

    report = audit_chain_verify()
    assert (report.broken_seq, report.reason) == (3, "rows 2..2 are missing before it")


def test_verify_audit_exits_with_status_1_from_the_command_line(three_rows, capsys):
    _tamper("UPDATE audit_auditevent SET data = %s WHERE seq = %s", ['{"args": {}}', 2])

    with pytest.raises(SystemExit) as exited:
        execute_from_command_line(["manage.py", "verify_audit"])

    assert exited.value.code == 1
    assert "audit chain broken at row seq=2" in capsys.readouterr().err


@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_keep_one_linear_chain():
    errors = []

    def append(n: int) -> None:
        try:
            for i in range(10):
                audit_event_append(action="run.tool_call", summary=f"thread {n} call {i}")
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=append, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True)) == list(range(1, 41))
    assert audit_chain_verify().ok


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        ("card 4111 1111 1111 1111 declined", "4111 1111 1111 1111", "1111"),
        ("mail ana.k@example.com now", "ana.k@", "now"),
        ("IBAN GB82 WEST 1234 5698 7654 32 please", "WEST 1234 5698", "please"),
        ("ticket 1043, amount 2500.00", None, "ticket 1043, amount 2500.00"),
    ],
)
def test_redaction_masks_cards_emails_and_ibans_but_not_ticket_numbers(text, secret, kept):
    """Whichever masker is in use (aspora.redaction, or the audit's own fallback)."""
    for masked in (audit_redact(text), _fallback_redact(text)):
        assert kept in masked
        if secret:
            assert secret not in masked


def test_the_fallback_masks_long_digit_runs_emails_and_ibans():
    assert _fallback_redact("a/c 001234567890, ana@example.com, GB82WEST12345698765432") == (
        "a/c [number …7890], [email], [iban]"
    )
