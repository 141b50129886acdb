"""Reads of the audit trail, scoped: who may see it, and which rows they see.

Ops managers, admins and staff may see the audit of their own tenant; superusers see every tenant's
and the system's rows. Everyone else is refused (403) by the views.
"""

from datetime import datetime

from django.db.models import Count, Max, QuerySet

from audit.models import AuditEvent, AuditSegment
from tenants.models import Membership, Role, Team, User

AUDIT_ROLES = {Role.OPS_MANAGER, Role.ADMIN}


def audit_viewer_may(*, user: User) -> bool:
    if not user.is_authenticated:
        return False
    cached = getattr(user, "_audit_viewer_may", None)
    if cached is None:
        cached = (
            user.is_superuser or user.is_staff or Membership.objects.filter(user=user, role__in=AUDIT_ROLES).exists()
        )
        user._audit_viewer_may = cached
    return cached


def audit_event_scope_for_user(*, user: User) -> QuerySet[AuditEvent]:
    """Every row the user may see (none for someone who may not)."""
    if not audit_viewer_may(user=user):
        return AuditEvent.objects.none()
    if user.is_superuser:
        return AuditEvent.objects.all()
    return AuditEvent.objects.filter(tenant_id=user.tenant_id)


def audit_event_list_for_user(
    *,
    user: User,
    person: str = "",
    team: Team | None = None,
    domain: str = "",
    skill: str = "",
    channel: str = "",
    action: str = "",
    outcome: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditEvent]:
    rows = audit_event_scope_for_user(user=user)
    exact = {
        "actor_label": person,
        "domain": domain,
        "skill": skill,
        "channel": channel,
        "action": action,
        "outcome": outcome,
    }
    rows = rows.filter(**{field: value for field, value in exact.items() if value})
    if team is not None:
        rows = rows.filter(team_id=team.pk)
    if since is not None:
        rows = rows.filter(occurred_at__gte=since)
    if until is not None:
        rows = rows.filter(occurred_at__lt=until)
    return rows.order_by("-seq")


def audit_filter_choices_for_user(*, user: User) -> dict[str, list]:
    """The values the filters offer: what occurs in the rows the user may see."""
    rows = audit_event_scope_for_user(user=user)

    def distinct(field: str) -> list[str]:
        return sorted(value for value in rows.values_list(field, flat=True).distinct().order_by() if value)

    teams = Team.objects.all() if user.is_superuser else Team.objects.filter(tenant_id=user.tenant_id)
    return {
        "people": distinct("actor_label"),
        "teams": list(teams.select_related("tenant")),
        "domains": distinct("domain"),
        "skills": distinct("skill"),
        "channels": distinct("channel"),
        "actions": distinct("action"),
        "outcomes": distinct("outcome"),
    }


def audit_archive_summary() -> dict:
    """How much of the chain is offline: segment count and the time of the newest archived row.

    Not scoped: it says only that older rows exist somewhere, never what they hold.
    """
    return AuditSegment.objects.aggregate(segments=Count("pk"), until=Max("last_occurred_at"))
