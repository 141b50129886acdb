"""Retention periods and the purge that enforces them (docs/audit.md#retention).

Floors are the law's minimum and cannot be configured down: alerts, cases and investigation records
at least 5 years after closure (FATF Recommendation 11), the audit trail at least 12 months with the
last 3 online. `ASPORA_RETENTION` may raise them, by default, per jurisdiction, and maps tenants to
jurisdictions. A month counts as 31 days and a year as 366, so rounding only ever keeps rows longer.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

FLOORS = {"case_years": 5, "audit_months": 12, "audit_online_months": 3}
DAYS = {"case_years": 366, "audit_months": 31, "audit_online_months": 31}


@dataclass(frozen=True)
class Periods:
    case_years: int
    audit_months: int
    audit_online_months: int

    def days(self, key: str) -> timedelta:
        return timedelta(days=getattr(self, key) * DAYS[key])


def _checked(values: dict, where: str) -> dict:
    for key, value in values.items():
        if key not in FLOORS:
            raise ImproperlyConfigured(f"ASPORA_RETENTION{where}: unknown period {key!r}; expected {', '.join(FLOORS)}")
        if not isinstance(value, int) or value < FLOORS[key]:
            raise ImproperlyConfigured(
                f"ASPORA_RETENTION{where}[{key!r}] is {value!r}: it may only raise the minimum of {FLOORS[key]}"
            )
    return values


def _config() -> dict:
    return getattr(settings, "ASPORA_RETENTION", {}) or {}


def retention_periods(*, tenant_slug: str | None = None) -> Periods:
    """The periods that apply to a tenant: the floors, raised by the defaults, raised by its jurisdiction."""
    config = _config()
    values = dict(FLOORS)
    values.update(_checked(config.get("default", {}), "['default']"))
    jurisdiction = config.get("tenants", {}).get(tenant_slug) if tenant_slug else None
    if jurisdiction:
        overrides = config.get("jurisdictions", {}).get(jurisdiction)
        if overrides is None:
            raise ImproperlyConfigured(
                f"ASPORA_RETENTION['tenants'][{tenant_slug!r}] names jurisdiction {jurisdiction!r}, "
                "which ASPORA_RETENTION['jurisdictions'] does not define"
            )
        for key, value in _checked(overrides, f"['jurisdictions'][{jurisdiction!r}]").items():
            values[key] = max(values[key], value)
    return Periods(**values)


def retention_periods_longest() -> Periods:
    """The longest period of each kind over every jurisdiction: what applies to records kept for all."""
    config = _config()
    periods = [retention_periods()] + [retention_periods(tenant_slug=slug) for slug in config.get("tenants", {})]
    return Periods(**{key: max(getattr(p, key) for p in periods) for key in FLOORS})


def retention_purge(*, now: datetime | None = None) -> dict[str, int]:
    """Delete what is past its period, nothing else; returns how many rows of each kind went.

    Per tenant, with its jurisdiction's case period (FATF R.11: at least 5 years after closure):
    - FinCrime alerts closed as false positives, with their investigation record (notes, sanctions
      matches, disposition requests), once the period has passed since `Alert.closed_at` (or, for
      an alert closed without it, e.g. in the admin, its last change, which only keeps it longer).
    - Cases closed (`Case.closed_at`, set by `case_close`, cleared by `case_reopen`) longer ago than
      the period, with the alert they investigate and that alert's whole record. An open case, and
      an alert escalated into one, are never purged however old.
    Then, for records kept for every tenant at once:
    - Audit rows older than the longest audit period, as a prefix of the chain (archived segments
      first, file and row), followed by an `audit.purged` row that anchors the chain's new start for
      `verify_audit`.
    - Row changes captured by the database triggers, after the longest case period.
    """
    from audit.archive import audit_segments_expire
    from audit.models import AuditEvent, RowChange
    from audit.services import audit_event_append
    from domains.fincrime.models import Alert, AlertStatus, Case
    from tenants.models import Tenant

    now = now or timezone.now()
    counts = {"alerts": 0, "cases": 0, "audit_events": 0, "row_changes": 0}
    for tenant in Tenant.objects.all():
        cutoff = now - retention_periods(tenant_slug=tenant.slug).days("case_years")
        with transaction.atomic():
            closed_before = Q(closed_at__lt=cutoff) | Q(closed_at__isnull=True, updated_at__lt=cutoff)
            alerts = Alert.objects.filter(closed_before, tenant=tenant, status=AlertStatus.CLOSED, case__isnull=True)
            counts["alerts"] += alerts.delete()[1].get("fincrime.Alert", 0)
            cases = Case.objects.filter(alert__tenant=tenant, closed_at__lt=cutoff)
            investigated = list(cases.values_list("alert_id", flat=True))
            # A case protects its alert: the case goes first, then the alert with its record.
            counts["cases"] += cases.delete()[1].get("fincrime.Case", 0)
            counts["alerts"] += Alert.objects.filter(pk__in=investigated).delete()[1].get("fincrime.Alert", 0)

    longest = retention_periods_longest()
    audit_cutoff = now - longest.days("audit_months")
    with transaction.atomic():
        # Archived rows are the oldest: whole expired segments go first (audit.archive).
        archived_count, archived_last = audit_segments_expire(before=audit_cutoff)
        # Only a prefix of the chain: stop before the first row still inside its period.
        first_kept = AuditEvent.objects.filter(occurred_at__gte=audit_cutoff).order_by("seq").values("seq").first()
        old = AuditEvent.objects.filter(occurred_at__lt=audit_cutoff)
        if first_kept:
            old = old.filter(seq__lt=first_kept["seq"])
        last = old.order_by("-seq").values("seq", "hash").first() or archived_last
        if last:
            counts["audit_events"] = archived_count + old.filter(seq__lte=last["seq"])._purge()
            audit_event_append(
                action="audit.purged",
                summary=f"retention purge removed {counts['audit_events']} rows before {audit_cutoff:%Y-%m-%d}",
                data={"through_seq": last["seq"], "last_hash": last["hash"], "count": counts["audit_events"]},
                outcome="ok",
            )
        changes_cutoff = now - longest.days("case_years")
        counts["row_changes"] = RowChange.objects.filter(changed_at__lt=changes_cutoff)._purge()
    return counts


def audit_online_since(*, now: datetime | None = None) -> datetime:
    """Where the audit page's default window starts: the online months."""
    return (now or timezone.now()) - retention_periods_longest().days("audit_online_months")
