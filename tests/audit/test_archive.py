"""The offline tier: the chain's old prefix moves to verified segment files, nothing inside the online
months moves, a crash loses nothing, verify_audit still covers every row and names an edited file."""

import csv
import gzip
import io
import json
from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from audit import archive as audit_archive_module
from audit import services as audit_services
from audit.archive import audit_archive, audit_segment_rows
from audit.models import AuditEvent, AuditSegment
from audit.retention import retention_purge
from audit.services import audit_chain_verify, audit_event_append
from audit.tasks import audit_archive_task
from tests.skills.conftest import eager_tasks  # noqa: F401 - shared fixture

DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)
ONLINE = timedelta(days=3 * 31)


def _append_at(monkeypatch, when, summary: str) -> AuditEvent:
    monkeypatch.setattr(audit_services.timezone, "now", lambda: when)
    try:
        return audit_event_append(action="run.started", summary=summary, data={"q": summary}, cost_usd="0.0031")
    finally:
        monkeypatch.undo()


def _below_the_app(call) -> None:
    """What someone with the table owner's rights does: on PostgreSQL they must first switch the triggers off."""
    tables = ("audit_auditevent", "audit_auditsegment")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for table in tables:
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER audit_append_only")
        call()
        if connection.vendor == "postgresql":
            for table in tables:
                cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER audit_append_only")


def _online() -> list[str]:
    return list(AuditEvent.objects.order_by("seq").values_list("summary", flat=True))


def _files(directory) -> list[str]:
    return sorted(path.name for path in directory.iterdir()) if directory.exists() else []


@pytest.fixture
def chain(db, monkeypatch, settings):
    """Two rows well past the online months, one just past, one just inside, one from yesterday."""
    settings.ASPORA_RETENTION = {}
    now = timezone.now()
    for summary, ago in (("200 days", 200 * DAY), ("150 days", 150 * DAY), ("just outside", ONLINE + MINUTE),
                         ("just inside", ONLINE - MINUTE), ("yesterday", DAY)):  # fmt: skip
        _append_at(monkeypatch, now - ago, summary)
    return now


def test_the_archive_moves_exactly_the_old_prefix_and_the_chain_still_verifies(chain, archive_dir, capsys):
    online_before = {row.seq: row.hash for row in AuditEvent.objects.all()}

    (segment,) = audit_archive(now=chain)

    assert (segment.first_seq, segment.last_seq, segment.row_count) == (1, 3, 3)
    assert (segment.first_prev_hash, segment.last_hash) == ("", online_before[3])
    assert _files(archive_dir) == ["audit-000000000001-000000000003.jsonl.gz"]
    archived = list(audit_segment_rows(storage_name=segment.storage_name))
    assert [(row.seq, row.summary, row.hash) for row in archived] == [
        (1, "200 days", online_before[1]), (2, "150 days", online_before[2]), (3, "just outside", online_before[3]),
    ]  # fmt: skip
    assert _online() == ["just inside", "yesterday", "archived 3 rows (seq 1..3) to " + segment.storage_name]
    call_command("verify_audit")
    assert capsys.readouterr().out.strip() == "audit chain intact: 6 rows verified, 1 archived segments included"


def test_the_file_is_self_describing_gzip_json_lines(chain, archive_dir):
    (segment,) = audit_archive(now=chain)

    with gzip.open(archive_dir / segment.storage_name, "rt") as file:
        lines = [json.loads(line) for line in file]

    header, first, trailer = lines[0], lines[1], lines[-1]
    assert (header["format"], header["version"], header["first_seq"], header["first_prev_hash"]) == (
        "aspora-audit-segment", 1, 1, "",
    )  # fmt: skip
    assert header["hashed_fields"] == list(audit_services.HASHED_FIELDS)
    assert (first["summary"], first["data"], first["cost_usd"]) == ("200 days", {"q": "200 days"}, "0.003100")
    assert trailer == {"trailer": {"rows": 3, "last_seq": 3, "last_hash": segment.last_hash}}


def test_a_second_run_archives_nothing_more(chain, archive_dir):
    audit_archive(now=chain)

    assert audit_archive(now=chain) == []
    assert AuditSegment.objects.count() == 1 and len(_files(archive_dir)) == 1


def test_later_runs_continue_the_chain_across_segments(chain, archive_dir, monkeypatch):
    monkeypatch.setattr(audit_archive_module, "SEGMENT_MAX_ROWS", 2)

    segments = audit_archive(now=chain)

    assert [(s.first_seq, s.last_seq) for s in segments] == [(1, 2), (3, 3)]
    assert segments[1].first_prev_hash == segments[0].last_hash
    report = audit_chain_verify()
    assert (report.ok, report.checked, report.segments) == (True, 7, 2)


def test_the_online_months_cannot_be_configured_under_three_to_archive_sooner(chain, settings):
    settings.ASPORA_RETENTION = {"default": {"audit_online_months": 2}}

    with pytest.raises(
        ImproperlyConfigured, match=r"\['audit_online_months'\] is 2: it may only raise the minimum of 3"
    ):
        audit_archive(now=chain)

    assert len(_online()) == 5 and AuditSegment.objects.count() == 0


def test_a_jurisdiction_with_six_online_months_keeps_five_month_old_rows_online(db, monkeypatch, settings):
    settings.ASPORA_RETENTION = {"jurisdictions": {"EU": {"audit_online_months": 6}}, "tenants": {"acme": "EU"}}
    now = timezone.now()
    _append_at(monkeypatch, now - 7 * 31 * DAY, "seven months")
    _append_at(monkeypatch, now - 5 * 31 * DAY, "five months")

    (segment,) = audit_archive(now=now)

    assert (segment.first_seq, segment.last_seq) == (1, 1)
    assert _online()[0] == "five months"


def test_a_crash_after_writing_the_file_loses_nothing_and_a_rerun_does_not_duplicate(chain, archive_dir, monkeypatch):
    store = audit_archive_module._store_atomically

    def store_then_crash(*args, **kwargs):
        store(*args, **kwargs)
        raise RuntimeError("worker killed")

    monkeypatch.setattr(audit_archive_module, "_store_atomically", store_then_crash)
    with pytest.raises(RuntimeError, match="worker killed"):
        audit_archive(now=chain)

    assert len(_online()) == 5 and AuditSegment.objects.count() == 0
    assert _files(archive_dir) == ["audit-000000000001-000000000003.jsonl.gz"]  # written, not counted
    assert audit_chain_verify().ok
    monkeypatch.undo()

    (segment,) = audit_archive(now=chain)

    assert _files(archive_dir) == [segment.storage_name]
    assert AuditSegment.objects.count() == 1 and AuditEvent.objects.filter(seq__lte=3).count() == 0
    report = audit_chain_verify()
    assert (report.ok, report.checked) == (True, 6)


def test_a_crash_before_commit_rolls_back_the_delete(chain, archive_dir, monkeypatch):
    def fail(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(audit_archive_module, "audit_event_append", fail)
    with pytest.raises(RuntimeError, match="database went away"):
        audit_archive(now=chain)

    assert len(_online()) == 5 and AuditSegment.objects.count() == 0
    monkeypatch.undo()
    assert len(audit_archive(now=chain)) == 1 and audit_chain_verify().ok


def test_a_half_written_partial_file_is_never_counted(chain, archive_dir):
    archive_dir.mkdir()
    (archive_dir / "audit-000000000001-000000000003.jsonl.gz.partial").write_bytes(b"\x1f\x8b half")

    (segment,) = audit_archive(now=chain)

    assert _files(archive_dir) == [segment.storage_name]
    assert audit_chain_verify().ok


def _rewrite(path, change) -> None:
    with gzip.open(path, "rt") as file:
        lines = [json.loads(line) for line in file]
    change(lines)
    with gzip.open(path, "wt") as out:
        out.writelines(json.dumps(line) + "\n" for line in lines)


def test_an_edited_segment_file_is_named_with_the_row_by_verify_audit(chain, archive_dir):
    (segment,) = audit_archive(now=chain)
    _rewrite(archive_dir / segment.storage_name, lambda lines: lines[2].update(summary="nothing happened"))

    with pytest.raises(CommandError) as raised:
        call_command("verify_audit")

    message = str(raised.value)
    assert f"in archived segment {segment.storage_name} at row seq=2" in message
    assert "sha256 does not match" in message and "contents do not match its hash" in message


def test_a_truncated_segment_file_is_named(chain, archive_dir):
    (segment,) = audit_archive(now=chain)
    path = archive_dir / segment.storage_name
    _rewrite(path, lambda lines: lines.pop())  # drop the trailer: the file now looks truncated

    report = audit_chain_verify()

    assert (report.ok, report.segment, report.broken_seq) == (False, segment.storage_name, 1)
    assert "sha256 does not match" in report.reason and "without its trailer" in report.reason


def test_a_missing_segment_file_is_named(chain, archive_dir):
    (segment,) = audit_archive(now=chain)
    (archive_dir / segment.storage_name).unlink()

    with pytest.raises(
        CommandError, match=rf"in archived segment {segment.storage_name} at row seq=1: file .* missing"
    ):
        call_command("verify_audit")


def test_a_deleted_segment_row_breaks_the_link_into_the_online_table(chain, monkeypatch):
    monkeypatch.setattr(audit_archive_module, "SEGMENT_MAX_ROWS", 2)
    first, _ = audit_archive(now=chain)
    _below_the_app(lambda: AuditSegment.objects.filter(pk=first.pk)._purge())

    report = audit_chain_verify()

    assert (report.ok, report.broken_seq) == (False, 3)
    assert "neither the start of the chain nor a recorded purge" in report.reason


def test_the_purge_removes_expired_segments_file_and_row_and_anchors_the_chain(
    db, monkeypatch, settings, archive_dir, django_capture_on_commit_callbacks
):
    settings.ASPORA_RETENTION = {}
    now = timezone.now()
    for summary, ago in (("400 days", 400 * DAY), ("380 days", 380 * DAY), ("200 days", 200 * DAY),
                         ("10 days", 10 * DAY)):  # fmt: skip
        _append_at(monkeypatch, now - ago, summary)
    (expired,) = audit_archive(now=now - 250 * DAY)
    (kept,) = audit_archive(now=now)

    with django_capture_on_commit_callbacks(execute=True):
        counts = retention_purge(now=now)

    assert counts["audit_events"] == 2
    assert list(AuditSegment.objects.values_list("storage_name", flat=True)) == [kept.storage_name]
    assert _files(archive_dir) == [kept.storage_name]
    anchor = AuditEvent.objects.get(action="audit.purged")
    assert anchor.data == {"through_seq": 2, "last_hash": expired.last_hash, "count": 2}
    assert audit_chain_verify().ok
    assert retention_purge(now=now)["audit_events"] == 0


def test_an_archived_purge_anchor_still_anchors_the_chain(
    db, monkeypatch, settings, django_capture_on_commit_callbacks
):
    settings.ASPORA_RETENTION = {}
    now = timezone.now()
    _append_at(monkeypatch, now - 530 * DAY, "530 days")
    _append_at(monkeypatch, now - 300 * DAY, "300 days")
    # The purge ran five months ago: it removed the first row and wrote its anchor then.
    monkeypatch.setattr(audit_services.timezone, "now", lambda: now - 150 * DAY)
    with django_capture_on_commit_callbacks(execute=True):
        assert retention_purge()["audit_events"] == 1
    monkeypatch.undo()

    # Today the anchor itself is archived: verify_audit finds it in the segment.
    (segment,) = audit_archive(now=now)

    assert AuditEvent.objects.filter(action="audit.purged").count() == 0
    assert (segment.first_seq, segment.last_seq) == (2, 3)
    assert audit_chain_verify().ok


def test_archiving_every_online_row_continues_the_chain(db, monkeypatch, settings):
    settings.ASPORA_RETENTION = {}
    _append_at(monkeypatch, timezone.now() - 200 * DAY, "old")
    audit_archive()
    # Even with the table empty (the archive's own row removed below the app), the chain goes on.
    _below_the_app(lambda: AuditEvent.objects.all()._purge())

    row = audit_event_append(action="run.started")

    segment = AuditSegment.objects.get()
    assert (row.seq, row.prev_hash) == (segment.last_seq + 1, segment.last_hash)


def test_the_archive_is_a_nightly_celery_beat_task_and_a_command(chain, archive_dir, eager_tasks, capsys, settings):  # noqa: F811
    entry = settings.CELERY_BEAT_SCHEDULE["audit-archive"]
    assert (entry["task"], entry["schedule"]) == ("audit.archive", 24 * 60 * 60)

    # The old rows are old at the real clock too.
    assert audit_archive_task.delay().get() == ["audit-000000000001-000000000003.jsonl.gz"]
    call_command("audit_archive")
    assert capsys.readouterr().out.strip() == "0 segments written"


def _export(*args) -> list[dict]:
    out = io.StringIO()
    call_command("audit_export", *args, stdout=out, stderr=io.StringIO())
    return list(csv.DictReader(io.StringIO(out.getvalue())))


def test_audit_export_reads_archived_and_online_rows_between_two_dates(chain, archive_dir):
    audit_archive(now=chain)
    day = lambda ago: (chain - ago).date().isoformat()  # noqa: E731

    rows = _export("--from", day(151 * DAY), "--to", day(ONLINE - 2 * DAY))

    assert [(r["seq"], r["summary"]) for r in rows] == [("2", "150 days"), ("3", "just outside"), ("4", "just inside")]
    assert rows[0]["cost_usd"] == "0.003100"


def test_audit_export_refuses_an_edited_segment_and_leaves_no_half_file(chain, archive_dir, tmp_path):
    (segment,) = audit_archive(now=chain)
    _rewrite(archive_dir / segment.storage_name, lambda lines: lines[1].update(summary="nothing happened"))
    output = tmp_path / "export.csv"

    with pytest.raises(CommandError, match=rf"nothing written: segment {segment.storage_name} .* sha256"):
        call_command("audit_export", "--from", "2000-01-01", "--to", "2100-01-01", "--output", str(output))

    assert not output.exists()


def test_audit_export_names_a_bad_date():
    with pytest.raises(CommandError, match=r"'2026-13-01' is not a date: use YYYY-MM-DD"):
        call_command("audit_export", "--from", "2026-13-01", "--to", "2026-12-31")
