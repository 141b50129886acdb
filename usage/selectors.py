"""Reads of money and limits: which budgets apply to a run, month-to-date spend, and usage figures."""

from datetime import datetime
from decimal import Decimal

from django.db.models import Q, Sum

from skills.models import Skill, SkillRun
from tenants.context import AskerContext
from usage.models import Budget, BudgetScope


def budget_list_for_run(*, context: AskerContext, skill: Skill) -> list[Budget]:
    """The enabled budgets a run of `skill` by `context` counts against, tenant-wide first."""
    return list(
        Budget.objects.filter(tenant=context.tenant, enabled=True)
        .filter(
            Q(scope=BudgetScope.TENANT)
            | Q(scope=BudgetScope.TEAM, team=context.team)
            | Q(scope=BudgetScope.DOMAIN, domain_id=skill.domain_id)
            | Q(scope=BudgetScope.SKILL, skill=skill)
        )
        .select_related("tenant", "team", "domain", "skill")
        .order_by("scope", "pk")
    )


def budget_spend(*, budget: Budget, start: datetime, end: datetime) -> Decimal:
    """USD recorded by runs in `budget`'s scope queued in [start, end); one indexed aggregate."""
    runs = SkillRun.objects.filter(tenant_id=budget.tenant_id, queued_at__gte=start, queued_at__lt=end)
    if budget.scope == BudgetScope.TEAM:
        runs = runs.filter(team_id=budget.team_id)
    elif budget.scope == BudgetScope.DOMAIN:
        runs = runs.filter(skill__domain_id=budget.domain_id)
    elif budget.scope == BudgetScope.SKILL:
        runs = runs.filter(skill_id=budget.skill_id)
    return runs.aggregate(total=Sum("cost_usd"))["total"] or Decimal(0)
