"""Reads of money and limits: which budgets apply to a run, month-to-date spend, and usage figures."""

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Aggregate, Count, DurationField, ExpressionWrapper, F, FloatField, Func, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from aspora.errors import ApplicationError
from skills.models import Domain, RunStatus, Skill, SkillRun
from tenants.context import AskerContext
from tenants.models import Role, Team, User
from usage.models import Budget, BudgetScope


def budget_list_for_run(*, context: AskerContext, skill: Skill) -> list[Budget]:
    """The enabled budgets a run of `skill` by `context` counts against, tenant-wide first. Read on
    every ask; what a refusal or a warning names (`Budget.label`) is loaded only for those."""
    return list(
        Budget.objects.filter(tenant=context.tenant, enabled=True)
        .filter(
            Q(scope=BudgetScope.TENANT)
            | Q(scope=BudgetScope.TEAM, team=context.team)
            | Q(scope=BudgetScope.DOMAIN, domain_id=skill.domain_id)
            | Q(scope=BudgetScope.SKILL, skill=skill)
        )
        .order_by("scope", "pk")
    )


def _spend_filter(budget: Budget) -> Q:
    """The runs of its tenant that `budget` counts."""
    if budget.scope == BudgetScope.TEAM:
        return Q(team_id=budget.team_id)
    if budget.scope == BudgetScope.DOMAIN:
        return Q(skill__domain_id=budget.domain_id)
    if budget.scope == BudgetScope.SKILL:
        return Q(skill_id=budget.skill_id)
    return Q()


def budget_spend(*, budget: Budget, start: datetime, end: datetime) -> Decimal:
    """USD recorded by runs in `budget`'s scope queued in [start, end); one indexed aggregate."""
    return budget_spend_by_budget(budgets=[budget], start=start, end=end)[budget.pk]


def budget_spend_by_budget(*, budgets: list[Budget], start: datetime, end: datetime) -> dict[int, Decimal]:
    """`budget_spend` of each of one tenant's `budgets`, by id, in one aggregate over the period's runs."""
    if not budgets:
        return {}
    (tenant_id,) = {budget.tenant_id for budget in budgets}
    totals = SkillRun.objects.filter(tenant_id=tenant_id, queued_at__gte=start, queued_at__lt=end).aggregate(
        **{f"b{budget.pk}": Sum("cost_usd", filter=_spend_filter(budget)) for budget in budgets}
    )
    return {budget.pk: totals[f"b{budget.pk}"] or Decimal(0) for budget in budgets}


# --- the usage dashboard and GET /api/usage -------------------------------------------------

VIEW_ROLES = {Role.OPS_MANAGER, Role.ADMIN}
MAX_PERIOD_DAYS = 366
TOP_SKILLS = 5


class UsagePeriodError(ApplicationError):
    status_code = 422


def usage_may_view(user: User) -> bool:
    """Ops managers, admins and staff; everyone else gets a 403."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser or user.is_staff:
        return True
    return user.memberships.filter(team__tenant_id=user.tenant_id, role__in=VIEW_ROLES).exists()


class PercentileCont(Aggregate):
    """PostgreSQL's ordered-set aggregate: the interpolated percentile, as Python's fallback computes it."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(%(percentile)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, *, percentile: float):
        super().__init__(expression, percentile=float(percentile))


def _latency_ms():
    return Func(
        ExpressionWrapper(F("finished_at") - F("queued_at"), output_field=DurationField()),
        template="EXTRACT(EPOCH FROM %(expressions)s) * 1000",
        output_field=FloatField(),
    )


def percentile_cont(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks: what PERCENTILE_CONT returns, for SQLite."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _latencies_by_day(runs) -> dict[date, tuple[float | None, float | None]]:
    done = runs.filter(status=RunStatus.SUCCEEDED, finished_at__isnull=False)
    if connection.vendor == "postgresql":
        rows = (
            done.annotate(day=TruncDate("queued_at"))
            .values("day")
            .annotate(
                p50=PercentileCont(_latency_ms(), percentile=0.5), p95=PercentileCont(_latency_ms(), percentile=0.95)
            )
        )
        return {row["day"]: (row["p50"], row["p95"]) for row in rows}
    samples: dict[date, list[float]] = defaultdict(list)
    for queued, finished in done.values_list("queued_at", "finished_at"):
        samples[timezone.localtime(queued).date()].append((finished - queued).total_seconds() * 1000)
    return {day: (percentile_cont(v, 0.5), percentile_cont(v, 0.95)) for day, v in samples.items()}


def _latency_overall(runs) -> tuple[float | None, float | None]:
    done = runs.filter(status=RunStatus.SUCCEEDED, finished_at__isnull=False)
    if connection.vendor == "postgresql":
        row = done.aggregate(
            p50=PercentileCont(_latency_ms(), percentile=0.5), p95=PercentileCont(_latency_ms(), percentile=0.95)
        )
        return row["p50"], row["p95"]
    values = [(f - q).total_seconds() * 1000 for q, f in done.values_list("queued_at", "finished_at")]
    return percentile_cont(values, 0.5), percentile_cont(values, 0.95)


def _usd(value) -> str:
    """Six decimals on every database: SQLite sums Decimal fields to floats and drops trailing zeros."""
    return str(Decimal(str(value or 0)).quantize(Decimal("0.000001")))


def _ms(value: float | None) -> int | None:
    return None if value is None else round(value)


def _rate(failed: int, succeeded: int) -> float:
    return round(failed / (failed + succeeded), 4) if failed + succeeded else 0.0


def _top_skills(runs, group: str, label: str) -> list[dict]:
    rows = (
        runs.exclude(skill__isnull=True)
        .values(group, "skill__name")
        .annotate(runs=Count("id"), cost=Sum("cost_usd"))
        .order_by(group, "-runs", "skill__name")
    )
    grouped: dict[str, list[dict]] = {}
    for row in rows:
        skills = grouped.setdefault(row[group], [])
        if len(skills) < TOP_SKILLS:
            skills.append({"skill": row["skill__name"], "runs": row["runs"], "cost_usd": _usd(row["cost"])})
    ordered = sorted(grouped.items(), key=lambda item: -sum(s["runs"] for s in item[1]))
    return [{label: name, "skills": skills} for name, skills in ordered]


def usage_summary_for_user(
    *, user: User, start: date, end: date, domain: str | None = None, team: str | None = None
) -> dict:
    """Runs, latency, errors and cost per day over [start, end] (whole days, inclusive), and the top
    skills per domain and per team, for the runs of the viewer's tenant (every tenant for a superuser
    without one). The dashboard and `GET /api/usage` both show exactly this."""
    if end < start:
        raise UsagePeriodError(f"The period ends ({end}) before it starts ({start}); pick an end on or after it.")
    if (end - start).days + 1 > MAX_PERIOD_DAYS:
        raise UsagePeriodError(f"A period is at most {MAX_PERIOD_DAYS} days; {start} to {end} is longer.")
    zone = timezone.get_current_timezone()
    since = datetime.combine(start, time.min, tzinfo=zone)
    until = datetime.combine(end + timedelta(days=1), time.min, tzinfo=zone)
    runs = SkillRun.objects.filter(queued_at__gte=since, queued_at__lt=until)
    if user.tenant_id is not None or not user.is_superuser:
        runs = runs.filter(tenant_id=user.tenant_id)
    if domain:
        runs = runs.filter(skill__domain__name=domain)
    if team:
        runs = runs.filter(team__slug=team)

    counts = {
        "runs": Count("id"),
        "succeeded": Count("id", filter=Q(status=RunStatus.SUCCEEDED)),
        "failed": Count("id", filter=Q(status=RunStatus.FAILED)),
        "refused": Count("id", filter=Q(status=RunStatus.REFUSED)),
        "cost": Sum("cost_usd"),
    }
    per_day = {row["day"]: row for row in runs.annotate(day=TruncDate("queued_at")).values("day").annotate(**counts)}
    latency = _latencies_by_day(runs)
    days = []
    for offset in range((end - start).days + 1):
        day = start + timedelta(days=offset)
        row = per_day.get(day, {})
        p50, p95 = latency.get(day, (None, None))
        days.append(
            {
                "day": day.isoformat(),
                "runs": row.get("runs", 0),
                "succeeded": row.get("succeeded", 0),
                "failed": row.get("failed", 0),
                "refused": row.get("refused", 0),
                "error_rate": _rate(row.get("failed", 0), row.get("succeeded", 0)),
                "cost_usd": _usd(row.get("cost")),
                "p50_ms": _ms(p50),
                "p95_ms": _ms(p95),
            }
        )
    total = runs.aggregate(**counts)
    p50, p95 = _latency_overall(runs)
    scope = SkillRun.objects.filter(tenant_id=user.tenant_id) if user.tenant_id else SkillRun.objects.all()
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "domain": domain or None,
        "team": team or None,
        "totals": {
            "runs": total["runs"],
            "succeeded": total["succeeded"],
            "failed": total["failed"],
            "refused": total["refused"],
            "error_rate": _rate(total["failed"], total["succeeded"]),
            "cost_usd": _usd(total["cost"]),
            "p50_ms": _ms(p50),
            "p95_ms": _ms(p95),
        },
        "days": days,
        "top_skills_by_domain": _top_skills(runs, "skill__domain__name", "domain"),
        "top_skills_by_team": _top_skills(runs, "team__name", "team"),
        "choices": {
            "domains": sorted(Domain.objects.values_list("name", flat=True)),
            "teams": [
                {"slug": slug, "name": name}
                for slug, name in Team.objects.filter(pk__in=scope.values("team_id").distinct())
                .order_by("name")
                .values_list("slug", "name")
            ],
        },
    }


def usage_period_default(*, start: date | None, end: date | None, days: int = 30) -> tuple[date, date]:
    """Fill a missing end with today and a missing start with `days` days up to the end."""
    end = end or timezone.localdate()
    return start or end - timedelta(days=days - 1), end
