"""Writes of the audit trail (docs/audit.md).

Invariants:
- `audit_event_append()` is the one way a row is written. It takes the chain lock (PostgreSQL: a
  transaction-scoped advisory lock; SQLite: a process lock and a transaction), reads the last row
  and stores the new one with `prev_hash` = the last row's hash, so the chain stays linear however
  many workers append at once. An append inside a caller's transaction commits or rolls back with it.
- Everything stored in `data` and `summary` has passed `audit_redact()` first.
- The hooks below are called from the skills, factory and FinCrime services and from the admin's LogEntry;
  they shape one row each and never raise for a missing optional attribute.
"""

import hashlib
import json
import threading
from dataclasses import dataclass
from datetime import UTC
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from audit.models import AuditEvent, AuditSegment, Outcome
from audit.redaction import audit_redact

# Any constant works; it only has to be the same in every process that appends.
CHAIN_LOCK_KEY = 0x41_55_44_49_54  # "AUDIT"
_sqlite_lock = threading.Lock()
COST_QUANTUM = Decimal("0.000001")
HASHED_FIELDS = (
    "seq", "occurred_at", "actor_id", "actor_label", "tenant_id", "team_id", "channel", "action",
    "object_type", "object_id", "domain", "skill", "skill_version", "summary", "data", "outcome",
    "latency_ms", "cost_usd", "prev_hash",
)  # fmt: skip


def _canonical_value(name: str, value: Any) -> Any:
    if name == "occurred_at":
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if name == "cost_usd":
        return None if value is None else str(Decimal(value).quantize(COST_QUANTUM))
    return value


def audit_row_hash(fields: dict[str, Any]) -> str:
    """sha256 over the canonical JSON of a row's hashed fields (which include `prev_hash`)."""
    canonical = {name: _canonical_value(name, fields[name]) for name in HASHED_FIELDS}
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _chain_lock() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])


def _chain_tail() -> dict | None:
    """The last online row's seq and hash (read on every append, under the chain lock)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT seq, hash FROM {AuditEvent._meta.db_table} ORDER BY seq DESC LIMIT 1")  # noqa: S608
        row = cursor.fetchone()
    return {"seq": row[0], "hash": row[1]} if row else None


def _last_archived() -> dict | None:
    """The chain's tail when every online row has been archived: the chain goes on, it does not restart."""
    last = AuditSegment.objects.order_by("-last_seq").values("last_seq", "last_hash").first()
    return {"seq": last["last_seq"], "hash": last["last_hash"]} if last else None


def audit_event_append(
    *,
    action: str,
    actor=None,
    actor_label: str = "",
    tenant_id: int | None = None,
    team_id: int | None = None,
    channel: str = "",
    object_type: str = "",
    object_id: Any = "",
    domain: str = "",
    skill: str = "",
    skill_version: int | None = None,
    summary: str = "",
    data: dict | None = None,
    outcome: str = "",
    latency_ms: int | None = None,
    cost_usd: Decimal | str | None = None,
) -> AuditEvent:
    """Append one row to the chain. `data` and `summary` are redacted here."""
    # A JSON round trip makes the hashed value exactly what the database gives back.
    clean_data = json.loads(json.dumps(audit_redact(data or {}), default=str))
    fields = {
        "actor_id": getattr(actor, "pk", actor),
        "actor_label": actor_label or (actor.get_username() if hasattr(actor, "get_username") else ""),
        "tenant_id": tenant_id,
        "team_id": team_id,
        "channel": channel or "",
        "action": action,
        "object_type": object_type,
        "object_id": str(object_id or ""),
        "domain": domain or "",
        "skill": skill or "",
        "skill_version": skill_version,
        "summary": audit_redact(summary)[:300],
        "data": clean_data,
        "outcome": outcome,
        "latency_ms": None if latency_ms is None else max(int(latency_ms), 0),
        "cost_usd": None if cost_usd is None else Decimal(str(cost_usd)).quantize(COST_QUANTUM),
    }
    sqlite = connection.vendor != "postgresql"
    if sqlite:
        _sqlite_lock.acquire()
    try:
        # No savepoint (two round trips): a failed append fails the caller's whole transaction, as
        # it must, since a change and its audit row are stored together or not at all.
        with transaction.atomic(savepoint=False):
            _chain_lock()
            last = _chain_tail() or _last_archived()
            # The time is taken under the lock, so it never goes backwards along the chain.
            fields["occurred_at"] = timezone.now()
            fields["seq"] = (last["seq"] + 1) if last else 1
            fields["prev_hash"] = last["hash"] if last else ""
            fields["hash"] = audit_row_hash(fields)
            return AuditEvent.objects.create(**fields)
    finally:
        if sqlite:
            _sqlite_lock.release()


# --- verification ----------------------------------------------------------------------------


@dataclass
class ChainReport:
    checked: int
    broken_seq: int | None = None
    broken_id: int | None = None
    reason: str = ""
    segment: str = ""  # the archived segment file the broken row is in, if it is archived
    segments: int = 0

    @property
    def ok(self) -> bool:
        return self.broken_seq is None and not self.reason


class AuditChainWalk:
    """One pass over the chain in `seq` order, archived segments first, then the online table.

    The first row must start the chain or continue where a purge ended; the `audit.purged` row that
    says so comes later in the chain (and may itself be archived), so anchors are collected on the way.
    """

    def __init__(self):
        self.checked, self.previous, self.start, self.anchors = 0, None, None, set()

    @classmethod
    def after(cls, *, seq: int, hash: str) -> "AuditChainWalk":
        """A walk whose first row must follow row `seq` with `hash`: a segment file's header."""
        walk = cls()
        walk.previous = AuditEvent(seq=seq, hash=hash)
        return walk

    def step(self, row: AuditEvent) -> str:
        previous = self.previous
        if previous is None:
            self.start = row
        elif row.seq != previous.seq + 1:
            return f"rows {previous.seq + 1}..{row.seq - 1} are missing before it"
        elif row.prev_hash != previous.hash:
            return f"its prev_hash does not match the hash of row {previous.seq}"
        if audit_row_hash({name: getattr(row, name) for name in HASHED_FIELDS}) != row.hash:
            return "its contents do not match its hash (the row was altered)"
        if row.action == "audit.purged":
            self.anchors.add((row.data.get("through_seq"), row.data.get("last_hash")))
        self.checked += 1
        self.previous = row
        return ""

    def start_ok(self) -> bool:
        start = self.start
        if start is None or (start.seq == 1 and start.prev_hash == ""):
            return True
        return (start.seq - 1, start.prev_hash) in self.anchors


def audit_chain_verify() -> ChainReport:
    """Walk the chain in order, archived segments included; name the first row whose hash, link or
    position does not hold, or the segment whose file is missing, edited or does not join the chain."""
    # Imported here: the archive module builds on this one (hashing, appending).
    from audit.archive import SegmentProblem, audit_segment_rows, audit_segment_sha256

    walk = AuditChainWalk()
    segments = list(AuditSegment.objects.order_by("first_seq"))
    for segment in segments:
        name = segment.storage_name
        sha_problem = ""
        if (sha := audit_segment_sha256(storage_name=name)) is not None and sha != segment.sha256:
            sha_problem = "the file's sha256 does not match the one recorded for the segment (the file was edited)"
        rows = 0
        for item in audit_segment_rows(storage_name=name):
            problem = item.reason if isinstance(item, SegmentProblem) else walk.step(item)
            if problem:
                seq = item.seq if item.seq is not None else segment.first_seq
                reason = f"{sha_problem}; {problem}" if sha_problem else problem
                return ChainReport(checked=walk.checked, broken_seq=seq, reason=reason, segment=name)
            rows += 1
        last = walk.previous
        if rows != segment.row_count or (last.seq, last.hash) != (segment.last_seq, segment.last_hash):
            problem = sha_problem or "its rows do not match the segment's recorded count, last seq or last hash"
            return ChainReport(checked=walk.checked, broken_seq=segment.first_seq, reason=problem, segment=name)
        if sha_problem:
            return ChainReport(checked=walk.checked, broken_seq=segment.first_seq, reason=sha_problem, segment=name)
    for row in AuditEvent.objects.order_by("seq").iterator(chunk_size=2000):
        if problem := walk.step(row):
            return ChainReport(checked=walk.checked, broken_seq=row.seq, broken_id=row.pk, reason=problem)
    if not walk.start_ok():
        start = walk.start
        return ChainReport(
            checked=0,
            broken_seq=start.seq,
            broken_id=start.pk,
            reason="its prev_hash matches neither the start of the chain nor a recorded purge",
            segment=segments[0].storage_name if segments else "",
        )
    return ChainReport(checked=walk.checked, segments=len(segments))


# --- hooks: skill runs, factory approvals, admin changes --------------------------------------

RUN_ACTIONS = {
    "run.started",
    "run.tool_call",
    "run.confirmation_needed",
    "run.confirmed",
    "run.final",
    "run.error",
}


def _run_fields(run) -> dict[str, Any]:
    version = run.skill_version if run.skill_version_id else None
    # The executor's version comes from its per-process cache with its skill and domain: reading
    # them there saves a run two queries per audited event.
    if version is not None and version.skill_id == run.skill_id and type(version).skill.is_cached(version):
        skill = version.skill
    else:
        skill = run.skill if run.skill_id else None
    return {
        "actor": run.user,
        "tenant_id": run.tenant_id,
        "team_id": run.team_id,
        "channel": run.channel,
        "object_type": "skill_run",
        "object_id": run.pk,
        "domain": skill.domain.name if skill else "",
        "skill": skill.name if skill else "",
        "skill_version": version.number if version else None,
    }


def _since_queued_ms(run) -> int | None:
    queued = getattr(run, "queued_at", None)
    return int((timezone.now() - queued).total_seconds() * 1000) if queued else None


def audit_run_event(*, run, type: str, data: dict) -> AuditEvent | None:
    """The audit row for a stored run event, if the event is one the audit keeps (not text deltas)."""
    if type not in RUN_ACTIONS:
        return None
    fields = _run_fields(run)
    who = fields["actor"].get_username()
    if type == "run.started":
        return audit_event_append(
            action=type,
            **fields,
            summary=f"{who} asked {fields['skill']} via {run.channel}: {run.message[:200]}",
            data={"message": run.message, "model": data.get("model"), "offline": data.get("offline"),
                  "routed": getattr(run, "routed", False)},
            outcome=Outcome.PENDING,
        )  # fmt: skip
    if type == "run.tool_call":
        return audit_event_append(
            action=type,
            **fields,
            summary=f"tool {data.get('name')}",
            data={"tool": data.get("name"), "tool_call_id": data.get("tool_call_id"), "args": data.get("args", {})},
        )
    if type == "run.confirmation_needed":
        calls = data.get("calls", [])
        return audit_event_append(
            action=type,
            **fields,
            summary=f"waiting for {who} to confirm {', '.join(str(c.get('name')) for c in calls)}",
            data={"calls": calls},
            outcome=Outcome.PENDING,
        )
    if type == "run.confirmed":
        approved = bool(data.get("approved"))
        return audit_event_append(
            action=type,
            **fields,
            summary=f"{who} {'confirmed' if approved else 'declined'} the pending tool calls",
            data={"approved": approved, "note": data.get("note", "")},
            outcome=Outcome.OK if approved else Outcome.REJECTED,
        )
    if type == "run.final":
        return audit_event_append(
            action="run.finished",
            **fields,
            summary=f"answered with {data.get('model') or run.model}",
            data={"model": data.get("model"), "input_tokens": data.get("input_tokens"),
                  "output_tokens": data.get("output_tokens")},
            outcome=Outcome.OK,
            latency_ms=data.get("latency_ms", run.latency_ms),
            cost_usd=data.get("cost_usd", run.cost_usd),
        )  # fmt: skip
    return audit_event_append(
        action="run.finished",
        **fields,
        summary=f"failed: {data.get('message', '')[:250]}",
        data={"error": data.get("message", ""), "model": run.model},
        outcome=Outcome.ERROR,
        latency_ms=_since_queued_ms(run),
        cost_usd=run.cost_usd,
    )


def audit_run_refused(*, run) -> AuditEvent:
    """A refused request: who asked what, and why it was refused."""
    fields = _run_fields(run)
    return audit_event_append(
        action="run.refused",
        **fields,
        summary=run.error[:300],
        data={"message": run.message, "reason": run.error},
        outcome=Outcome.REFUSED,
        latency_ms=0,
    )


def audit_factory_decision(*, run, approval, user) -> AuditEvent:
    """A person's approval or rejection of one exact commit of a factory run."""
    approved = approval.decision == "approve"
    tier = getattr(run, "tier", None)
    return audit_event_append(
        action="factory.approved" if approved else "factory.rejected",
        actor=user,
        tenant_id=run.tenant_id,
        channel="web",
        object_type="factory_run",
        object_id=run.pk,
        summary=f"{user.get_username()} {'approved' if approved else 'rejected'} {run.title} at {approval.sha[:12]}",
        data={"sha": approval.sha, "comment": approval.comment, "tier": getattr(tier, "name", "")},
        outcome=Outcome.OK if approved else Outcome.REJECTED,
    )


def audit_case_decision(*, case, context, action: str, reason: str = "") -> AuditEvent:
    """A person closing (`case.closed`, with the outcome) or reopening (`case.reopened`, with the
    reason) a FinCrime case: the decision that starts or stops its retention clock."""
    alert = case.alert
    who = context.user.get_username()
    if action == "case.closed":
        summary = f"{who} closed the case for alert {alert.number}: {case.get_outcome_display()}"
        data = {"alert": alert.number, "outcome": case.outcome, "detail": case.outcome_detail}
    else:
        summary = f"{who} reopened the case for alert {alert.number}: {reason[:200]}"
        data = {"alert": alert.number, "reason": reason}
    return audit_event_append(
        action=action,
        actor=context.user,
        tenant_id=alert.tenant_id,
        team_id=alert.team_id,
        channel=context.channel,
        object_type="fincrime_case",
        object_id=case.pk,
        domain="fincrime",
        summary=summary,
        data=data,
        outcome=Outcome.OK,
    )


# What the admin audit watches: skills, permissions, risk tiers and teams (app_label, model).
ADMIN_WATCHED = {
    ("skills", "skill"),
    ("skills", "skillversion"),
    ("skills", "domain"),
    ("skills", "skilluserobjectpermission"),
    ("skills", "skillgroupobjectpermission"),
    ("skills", "domainuserobjectpermission"),
    ("skills", "domaingroupobjectpermission"),
    ("auth", "group"),
    ("auth", "permission"),
    ("tenants", "team"),
    ("tenants", "membership"),
    ("tenants", "user"),
    ("factory", "risktier"),
    ("factory", "riskrule"),
}
SNAPSHOT_SKIP = {"password", "content", "instructions", "frontmatter", "config", "last_login"}


def _snapshot(obj) -> dict[str, Any]:
    """The object's plain fields (ids for relations), cheap to read; long texts and secrets left out."""
    if obj is None:
        return {}
    values = {}
    for field in obj._meta.concrete_fields:
        if field.name in SNAPSHOT_SKIP:
            continue
        value = getattr(obj, field.attname)
        values[field.attname] = value if isinstance(value, str | int | float | bool | type(None)) else str(value)
    return values


def audit_admin_change(*, entry) -> AuditEvent | None:
    """An admin add, change or delete of a watched model: who, when, the change message, before/after.

    "After" is the object's fields now; "before" is the "after" the previous audit row for the same
    object recorded, so no admin class has to capture anything.
    """
    content_type = entry.content_type
    if content_type is None or (content_type.app_label, content_type.model) not in ADMIN_WATCHED:
        return None
    model = content_type.model_class()
    obj = model._default_manager.filter(pk=entry.object_id).first() if model and entry.object_id else None
    object_type = f"{content_type.app_label}.{content_type.model}"
    previous = (
        AuditEvent.objects.filter(action="admin.change", object_type=object_type, object_id=str(entry.object_id))
        .order_by("-seq")
        .values_list("data", flat=True)
        .first()
    )
    verb = {1: "added", 2: "changed", 3: "deleted"}.get(entry.action_flag, "changed")
    user = entry.user
    return audit_event_append(
        action="admin.change",
        actor=user,
        tenant_id=getattr(user, "tenant_id", None),
        channel="admin",
        object_type=object_type,
        object_id=entry.object_id or "",
        summary=f"{user.get_username()} {verb} {content_type.model} {entry.object_repr}",
        data={
            "verb": verb,
            "message": entry.get_change_message(),
            # The admin logs a deletion just before it deletes: what it removes is the "before".
            "before": _snapshot(obj) if verb == "deleted" else (previous or {}).get("after", {}),
            "after": {} if verb == "deleted" else _snapshot(obj),
        },
        outcome=Outcome.OK,
    )
