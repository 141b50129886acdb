"""The offline tier of the audit trail (docs/audit.md#archive).

Invariants:
- Only a prefix of the chain older than the online months (the longest configured anywhere, never
  under the 3-month floor) is archived, in `seq` order, continuing exactly where the last segment ended.
- A segment file is gzip JSON Lines: a header, every column of each row (all the hash needs), a
  trailer. It is written under a temporary name and renamed, then re-read from storage and verified
  (sha256, row hashes, links, count) before one transaction records the `AuditSegment`, deletes the
  rows from `AuditEvent` and appends an `audit.archived` row. A crash anywhere before that commit
  leaves the rows online and no segment recorded; the next run rewrites the same file.
- Files live in the `audit_archive` storage (settings.STORAGES, `ASPORA_AUDIT_ARCHIVE_DIR`).
"""

import gzip
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.core.files import File
from django.core.files.storage import Storage, storages
from django.db import transaction
from django.utils import timezone

from audit.models import AuditEvent, AuditSegment
from audit.retention import retention_periods_longest
from audit.services import HASHED_FIELDS, AuditChainWalk, audit_event_append

FORMAT = "aspora-audit-segment"
VERSION = 1
SEGMENT_MAX_ROWS = 20_000
COLUMNS = (*HASHED_FIELDS, "hash")
NAME = re.compile(r"^audit-(\d{12})-(\d{12})\.jsonl\.gz(\.partial)?$")


class AuditArchiveError(Exception):
    """The archive cannot go on without losing or forging part of the chain; the message says where."""


def audit_archive_storage() -> Storage:
    return storages["audit_archive"]


def _segment_name(first_seq: int, last_seq: int) -> str:
    return f"audit-{first_seq:012d}-{last_seq:012d}.jsonl.gz"


def _row_json(row: AuditEvent) -> dict:
    values = {name: getattr(row, name) for name in COLUMNS}
    values["occurred_at"] = row.occurred_at.astimezone(UTC).isoformat(timespec="microseconds")
    values["cost_usd"] = None if row.cost_usd is None else str(row.cost_usd)
    return values


def _row_from_json(values: dict) -> AuditEvent:
    """An unsaved `AuditEvent` with the archived values, so hashing and CSV shaping work as for online rows."""
    fields = {name: values[name] for name in COLUMNS}
    fields["occurred_at"] = datetime.fromisoformat(values["occurred_at"])
    fields["cost_usd"] = None if values["cost_usd"] is None else Decimal(values["cost_usd"])
    return AuditEvent(**fields)


def _dumps(value: dict) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


@dataclass
class SegmentProblem:
    seq: int | None
    reason: str


def audit_segment_rows(*, storage_name: str) -> Iterator[AuditEvent | SegmentProblem]:
    """The rows of one segment file in order, each checked against its own hash and the row before.

    Yields a `SegmentProblem` (and stops) at the first thing that does not hold: an unreadable file,
    a row whose contents do not match its hash, a broken link or gap, a trailer that disagrees.
    """
    storage = audit_archive_storage()
    if not storage.exists(storage_name):
        yield SegmentProblem(None, f"file {storage_name} is missing from the archive storage")
        return
    last = None
    try:
        with storage.open(storage_name, "rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as lines:
            header = json.loads(next(lines, "null"))
            if not isinstance(header, dict) or header.get("format") != FORMAT or header.get("version") != VERSION:
                yield SegmentProblem(None, f"file {storage_name} has no {FORMAT} v{VERSION} header")
                return
            walk = AuditChainWalk.after(seq=header["first_seq"] - 1, hash=header["first_prev_hash"])
            for line in lines:
                values = json.loads(line)
                if "trailer" in values:
                    if values["trailer"] != {"rows": walk.checked, "last_seq": getattr(last, "seq", None),
                                             "last_hash": getattr(last, "hash", None)}:  # fmt: skip
                        yield SegmentProblem(None, f"file {storage_name}'s trailer does not match its rows")
                    return
                row = _row_from_json(values)
                if problem := walk.step(row):
                    yield SegmentProblem(row.seq, f"{problem}, in file {storage_name}")
                    return
                last = row
                yield row
    except (OSError, EOFError, ValueError, KeyError, TypeError) as exc:
        # gzip, JSON and missing keys all mean an edited or truncated file.
        yield SegmentProblem(getattr(last, "seq", None), f"file {storage_name} is unreadable after it: {exc}")
        return
    yield SegmentProblem(None, f"file {storage_name} ends without its trailer (truncated)")


def audit_segment_sha256(*, storage_name: str) -> str | None:
    storage = audit_archive_storage()
    if not storage.exists(storage_name):
        return None
    digest = hashlib.sha256()
    with storage.open(storage_name, "rb") as raw:
        for chunk in iter(lambda: raw.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- writing --------------------------------------------------------------------------------------


def _write_local(handle, rows, first_prev_hash: str) -> dict:
    """The segment's bytes into a local file; gzip's mtime is fixed so a rerun writes the same bytes."""
    summary = {"rows": 0, "last_seq": None, "last_hash": None, "first": None, "last": None}
    with gzip.GzipFile(fileobj=handle, mode="wb", mtime=0) as out:
        header_written = False
        for row in rows:
            if not header_written:
                out.write(_dumps({"format": FORMAT, "version": VERSION, "hashed_fields": list(HASHED_FIELDS),
                                  "hash": "sha256 of the canonical JSON of hashed_fields (docs/audit.md)",
                                  "first_seq": row.seq, "first_prev_hash": first_prev_hash}))  # fmt: skip
                header_written = True
                summary["first"] = row
            out.write(_dumps(_row_json(row)))
            summary.update(rows=summary["rows"] + 1, last_seq=row.seq, last_hash=row.hash, last=row)
        out.write(_dumps({"trailer": {k: summary[k] for k in ("rows", "last_seq", "last_hash")}}))
    handle.flush()
    os.fsync(handle.fileno())
    handle.seek(0)
    digest = hashlib.sha256()
    for chunk in iter(lambda: handle.read(1 << 16), b""):
        digest.update(chunk)
    summary["sha256"] = digest.hexdigest()
    handle.seek(0)
    return summary


def _store_atomically(storage: Storage, name: str, handle) -> None:
    """Write under a temporary name, then rename, so a crash never leaves a half file under `name`."""
    for leftover in (name, f"{name}.partial"):
        if storage.exists(leftover):
            storage.delete(leftover)  # unrecorded, from a crashed run: its rows are still online
    partial = storage.save(f"{name}.partial", File(handle, name=name))
    try:
        local = storage.path(partial)
    except NotImplementedError:
        # Object stores put a whole object or none; copy, then drop the partial one.
        with storage.open(partial, "rb") as source:
            storage.save(name, source)
        storage.delete(partial)
        return
    with open(local, "rb") as written:
        os.fsync(written.fileno())
    os.replace(local, storage.path(name))
    directory = os.open(os.path.dirname(local), os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _remove_unrecorded(storage: Storage, after_seq: int) -> None:
    """Files and partial files of crashed runs past the last recorded segment: their rows are still online."""
    try:
        _, names = storage.listdir("")
    except FileNotFoundError:
        return
    recorded = set(AuditSegment.objects.values_list("storage_name", flat=True))
    for name in names:
        match = NAME.match(name)
        if match and name not in recorded and int(match.group(1)) > after_seq:
            storage.delete(name)


def audit_archive(*, now: datetime | None = None) -> list[AuditSegment]:
    """Move the chain's prefix older than the online months to segment files; returns the new segments.

    Safe to run twice or after a crash: nothing is deleted online before its segment is recorded, in
    the same transaction, and a rerun finds only what is still online.
    """
    now = now or timezone.now()
    cutoff = now - retention_periods_longest().days("audit_online_months")
    storage = audit_archive_storage()
    last_segment = AuditSegment.objects.order_by("-last_seq").first()
    _remove_unrecorded(storage, last_segment.last_seq if last_segment else 0)
    created = []
    while True:
        first_kept = AuditEvent.objects.filter(occurred_at__gte=cutoff).order_by("seq").values("seq").first()
        old = AuditEvent.objects.filter(occurred_at__lt=cutoff)
        if first_kept:
            old = old.filter(seq__lt=first_kept["seq"])
        first = old.order_by("seq").values("seq", "prev_hash").first()
        if first is None:
            return created
        expected_seq = last_segment.last_seq + 1 if last_segment else first["seq"]
        expected_prev = last_segment.last_hash if last_segment else first["prev_hash"]
        if (first["seq"], first["prev_hash"]) != (expected_seq, expected_prev):
            raise AuditArchiveError(
                f"online row seq={first['seq']} does not continue the last archived segment "
                f"(expected seq={expected_seq} linked to its hash): run `manage.py verify_audit`; nothing archived"
            )
        batch = old.order_by("seq")[:SEGMENT_MAX_ROWS]
        with tempfile.TemporaryFile() as handle:
            summary = _write_local(handle, batch.iterator(chunk_size=2000), first["prev_hash"])
            name = _segment_name(first["seq"], summary["last_seq"])
            _store_atomically(storage, name, handle)
        last_segment = _segment_record(storage, name, summary, first["prev_hash"])
        created.append(last_segment)


def _segment_record(storage: Storage, name: str, summary: dict, first_prev_hash: str) -> AuditSegment:
    """Re-read the stored file, and only if it holds exactly the rows written, make it the rows' home."""
    if audit_segment_sha256(storage_name=name) != summary["sha256"]:
        raise AuditArchiveError(f"segment {name} reads back different bytes than were written; the rows stay online")
    rows = 0
    for item in audit_segment_rows(storage_name=name):
        if isinstance(item, SegmentProblem):
            raise AuditArchiveError(f"segment {name} failed verification after writing, at seq={item.seq}: "
                                    f"{item.reason}; the rows stay online")  # fmt: skip
        rows += 1
    if rows != summary["rows"]:
        raise AuditArchiveError(f"segment {name} holds {rows} rows, {summary['rows']} were written; rows stay online")
    first, last = summary["first"], summary["last"]
    with transaction.atomic():
        segment = AuditSegment.objects.create(
            first_seq=first.seq, last_seq=last.seq, first_prev_hash=first_prev_hash, last_hash=last.hash,
            first_occurred_at=first.occurred_at, last_occurred_at=last.occurred_at, row_count=rows,
            sha256=summary["sha256"], storage_name=name,
        )  # fmt: skip
        deleted = AuditEvent.objects.filter(seq__gte=first.seq, seq__lte=last.seq)._purge()
        if deleted != rows:
            raise AuditArchiveError(f"segment {name}: {deleted} online rows matched, {rows} archived; rolled back")
        audit_event_append(
            action="audit.archived",
            summary=f"archived {rows} rows (seq {first.seq}..{last.seq}) to {name}",
            data={"segment": name, "first_seq": first.seq, "last_seq": last.seq, "sha256": segment.sha256},
            outcome="ok",
        )
    return segment


def audit_segments_expire(*, before: datetime) -> tuple[int, dict | None]:
    """Delete the segments whose every row is older than `before` (the retention purge, in its transaction).

    Returns how many rows they held and the chain position they reached (`seq`, `hash`), for the purge's
    anchor. Files are deleted once the transaction commits: a rollback keeps every recorded file.
    """
    expired = []
    # A prefix of the chain only, even if a clock once went backwards.
    for segment in AuditSegment.objects.order_by("first_seq").iterator():
        if segment.last_occurred_at >= before:
            break
        expired.append(segment)
    if not expired:
        return 0, None
    storage = audit_archive_storage()
    names = [segment.storage_name for segment in expired]
    AuditSegment.objects.filter(pk__in=[segment.pk for segment in expired])._purge()
    transaction.on_commit(lambda: [storage.delete(name) for name in names])
    return sum(s.row_count for s in expired), {"seq": expired[-1].last_seq, "hash": expired[-1].last_hash}


def audit_archived_rows(*, since: datetime, until: datetime) -> Iterator[AuditEvent]:
    """Archived rows with `since <= occurred_at < until`, in `seq` order, from files checked on the way.

    Raises `AuditArchiveError` naming the segment (and seq) before handing out anything from a file
    that is missing, edited or does not match its recorded sha256: an export is evidence.
    """
    segments = AuditSegment.objects.filter(last_occurred_at__gte=since, first_occurred_at__lt=until)
    for segment in segments.order_by("first_seq"):
        name = segment.storage_name
        if audit_segment_sha256(storage_name=name) != segment.sha256:
            raise AuditArchiveError(
                f"segment {name} (seq {segment.first_seq}..{segment.last_seq}) is missing or does not match its "
                "recorded sha256: run `manage.py verify_audit`"
            )
        for item in audit_segment_rows(storage_name=name):
            if isinstance(item, SegmentProblem):
                raise AuditArchiveError(f"segment {name} is broken at seq={item.seq}: {item.reason}")
            if since <= item.occurred_at < until:
                yield item
