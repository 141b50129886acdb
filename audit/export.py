"""The audit's CSV shape: one place for the page's export and `manage.py audit_export`."""

from collections.abc import Iterable, Iterator
from datetime import datetime

from audit.models import AuditEvent

CSV_COLUMNS = (
    "seq", "occurred_at", "actor", "tenant_id", "team_id", "channel", "action", "object_type", "object_id",
    "domain", "skill", "skill_version", "summary", "outcome", "latency_ms", "cost_usd", "hash",
)  # fmt: skip


def _cell(value) -> str:
    """A spreadsheet must not run what someone typed: text starting like a formula is quoted."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def audit_csv_cells(row: AuditEvent) -> Iterable[str]:
    """One CSV line's cells, for an online row or one read back from an archived segment."""
    return (
        _cell(value)
        for value in [
            row.seq, row.occurred_at.isoformat(), row.actor_label, row.tenant_id or "", row.team_id or "",
            row.channel, row.action, row.object_type, row.object_id, row.domain, row.skill,
            row.skill_version or "", row.summary, row.outcome, "" if row.latency_ms is None else row.latency_ms,
            "" if row.cost_usd is None else row.cost_usd, row.hash,
        ]
    )  # fmt: skip


def audit_rows_between(*, start: datetime, end: datetime) -> Iterator[AuditEvent]:
    """Every row with `start <= occurred_at < end`, in chain order: the archived segments' (checked
    as they are read; `AuditArchiveError` names a broken one), then the online table's."""
    from audit.archive import audit_archived_rows  # the archive builds on the audit's services

    yield from audit_archived_rows(since=start, until=end)
    online = AuditEvent.objects.filter(occurred_at__gte=start, occurred_at__lt=end).order_by("seq")
    yield from online.iterator(chunk_size=1000)
