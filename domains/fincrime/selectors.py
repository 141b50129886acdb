"""FinCrime reads, scoped to the asker's tenant and team: analysts see their team's queue only."""

from datetime import timedelta

from django.db.models import Count, QuerySet, Sum
from django.utils import timezone

from domains.fincrime.models import OPEN_ALERT_STATUSES, Alert, Case, SanctionsMatch, Transaction
from tenants.context import AskerContext
from tenants.models import Membership, Role

# Closing a case ends an investigation and starts its retention clock: a manager's call, not the
# analyst's who worked it (docs/domains.md#fincrime).
CASE_DECIDER_ROLES = (Role.MANAGER, Role.OPS_MANAGER)


def _team_alerts(context: AskerContext) -> QuerySet[Alert]:
    return Alert.objects.filter(tenant=context.tenant, team=context.team).select_related("customer", "assignee")


def alert_list_for_context(
    *, context: AskerContext, type: str | None = None, status: str | None = None, older_than_days: int | None = None
) -> QuerySet[Alert]:
    alerts = _team_alerts(context)
    if status in (None, "open"):
        alerts = alerts.filter(status__in=OPEN_ALERT_STATUSES)
    elif status != "all":
        alerts = alerts.filter(status=status)
    if type:
        alerts = alerts.filter(type=type)
    if older_than_days:
        alerts = alerts.filter(created_at__lte=timezone.now() - timedelta(days=older_than_days))
    return alerts.order_by("-score", "created_at")


def alert_get_for_context(*, context: AskerContext, number: int) -> Alert | None:
    """An alert of the asker's team, or None: another team's or tenant's alert looks missing."""
    return _team_alerts(context).select_related("source_ticket").filter(number=number).first()


def alert_recent_transactions(*, alert: Alert, days: int = 90, limit: int = 8) -> QuerySet[Transaction]:
    since = alert.created_at - timedelta(days=days)
    return alert.customer.transactions.filter(created_at__gte=since).order_by("-amount")[:limit]


def alert_counterparties(*, alert: Alert, days: int = 90, limit: int = 5) -> list[dict]:
    since = alert.created_at - timedelta(days=days)
    rows = (
        alert.customer.transactions.filter(created_at__gte=since)
        .values("counterparty", "counterparty_country", "currency")
        .annotate(count=Count("pk"), total=Sum("amount"))
        .order_by("-total")[:limit]
    )
    return list(rows)


def sanctions_match_list_pending_for_context(*, context: AskerContext) -> QuerySet[SanctionsMatch]:
    return (
        SanctionsMatch.objects.filter(
            alert__tenant=context.tenant,
            alert__team=context.team,
            alert__status__in=OPEN_ALERT_STATUSES,
            status=SanctionsMatch.Status.PENDING,
        )
        .select_related("alert", "alert__customer", "entry")
        .order_by("-score")
    )


def alert_get_for_user(*, user, number: int) -> Alert | None:
    """For the portal's pages: an alert of one of the person's teams, in their tenant."""
    return (
        Alert.objects.select_related("customer", "assignee", "team", "source_ticket")
        .filter(tenant_id=user.tenant_id, team__memberships__user=user, number=number)
        .first()
    )


def case_may_decide(*, user, alert: Alert) -> bool:
    """Whether the person may close or reopen the case of `alert`: a manager or ops manager of the
    alert's own team, in its tenant. Read by the page to offer the form and by the services to refuse."""
    if not user.is_active or user.tenant_id != alert.tenant_id:
        return False
    return Membership.objects.filter(user=user, team_id=alert.team_id, role__in=CASE_DECIDER_ROLES).exists()


def case_get_for_alert(*, alert: Alert) -> Case | None:
    """The alert's case with who opened and closed it, as the alert page shows it; None if never escalated."""
    return Case.objects.filter(alert=alert).select_related("opened_by", "closed_by").first()
