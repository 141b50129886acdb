"""Past runs for the demo, so the usage dashboard has weeks of history to draw: `manage.py seed_demo`.

Idempotent: every run's id is derived from its day and number, so seeding again adds only the days
since the last seed. Runs are marked `extra.demo = "usage-history"` and carry no conversation.
"""

import random
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from skills.models import RunStatus, Skill, SkillRun
from tenants.models import Membership
from usage.models import Budget, BudgetScope
from usage.pricing import run_cost_usd

NAMESPACE = uuid.UUID("6f1d7c1e-2a0b-4a6e-9d59-3c1f0e8a7b21")
MODEL = "anthropic:claude-haiku-4-5"
# Who asks what, and how often (relative weights).
ASKS = {
    "ecm-field": [
        ("my-tickets", 8),
        ("ticket-detail", 5),
        ("escalate-shipment", 2),
        ("add-note", 3),
        ("resolve-ticket", 2),
    ],
    "ecm-managers": [("team-queue", 5), ("reassign-ticket", 2), ("escalate-shipment", 1)],
    "fincrime": [("show-alerts", 6), ("investigate-alert", 4), ("pending-sanctions-matches", 2), ("escalate-alert", 1)],
    "fraud-risk": [("rule-performance", 3), ("explain-false-positive", 3), ("simulate-rule-change", 1)],
}
CHANNELS = [("web", 5), ("slack", 4), ("whatsapp", 2), ("api", 1)]


def _pick(rng: random.Random, weighted: list[tuple[str, int]]) -> str:
    return rng.choices([name for name, _ in weighted], weights=[weight for _, weight in weighted])[0]


@contextmanager
def _keep_queued_at():
    """Let bulk_create store the historical `queued_at` it is given instead of now."""
    field = SkillRun._meta.get_field("queued_at")
    field.auto_now_add = False
    try:
        yield
    finally:
        field.auto_now_add = True


def _runs_for_day(day, rng: random.Random, skills: dict[str, Skill], askers: dict[str, list[Membership]]) -> list:
    weekend = day.weekday() >= 5
    count = rng.randint(8, 16) if weekend else rng.randint(28, 48)
    runs = []
    for number in range(count):
        team = rng.choices(list(ASKS), weights=[6, 2, 4, 2])[0]
        skill = skills.get(_pick(rng, ASKS[team]))
        people = askers.get(team)
        if skill is None or not people:
            continue
        membership = rng.choice(people)
        queued = datetime.combine(day, time(rng.randint(6, 19), rng.randint(0, 59), rng.randint(0, 59)), tzinfo=UTC)
        roll = rng.random()
        status = RunStatus.FAILED if roll < 0.035 else RunStatus.REFUSED if roll < 0.06 else RunStatus.SUCCEEDED
        latency = rng.lognormvariate(7.75, 0.45) if status != RunStatus.REFUSED else rng.uniform(20, 60)
        tokens_in = rng.randint(1800, 9000) if status != RunStatus.REFUSED else 0
        tokens_out = rng.randint(120, 700) if status == RunStatus.SUCCEEDED else 0
        runs.append(
            SkillRun(
                id=uuid.uuid5(NAMESPACE, f"{day.isoformat()}:{number}"),
                skill=skill,
                skill_version=skill.current_version,
                user=membership.user,
                team=membership.team,
                tenant=membership.team.tenant,
                channel=_pick(rng, CHANNELS),
                message=f"({skill.name}, demo history)",
                extra={"demo": "usage-history"},
                status=status,
                model=MODEL if status != RunStatus.REFUSED else "",
                answer="(demo history)" if status == RunStatus.SUCCEEDED else "",
                error="The model provider failed: timeout" if status == RunStatus.FAILED else "",
                queued_at=queued,
                started_at=queued + timedelta(milliseconds=40),
                finished_at=queued + timedelta(milliseconds=latency),
                input_tokens=tokens_in,
                output_tokens=tokens_out,
                requests=2 if tokens_in else 0,
                cost_usd=run_cost_usd(
                    model=MODEL, offline=False, input_tokens=tokens_in, output_tokens=tokens_out, at=queued
                ),
            )
        )
    return runs


@transaction.atomic
def usage_demo_seed(*, days: int = 45, seed: int = 7) -> int:
    """Add the missing days of demo history (up to yesterday) and the demo budgets; return runs added."""
    skills = {skill.name: skill for skill in Skill.objects.filter(is_active=True).select_related("current_version")}
    askers: dict[str, list[Membership]] = {}
    for membership in Membership.objects.filter(team__tenant__slug="aspora-remit").select_related(
        "user", "team__tenant"
    ):
        askers.setdefault(membership.team.slug, []).append(membership)
    today = timezone.localdate()
    added = 0
    for offset in range(days, 0, -1):
        day = today - timedelta(days=offset)
        rng = random.Random(f"{seed}:{day.isoformat()}")  # noqa: S311 - demo data, the same on every seed
        runs = _runs_for_day(day, rng, skills, askers)
        existing = set(SkillRun.objects.filter(pk__in=[run.pk for run in runs]).values_list("pk", flat=True))
        fresh = [run for run in runs if run.pk not in existing]
        with _keep_queued_at():
            SkillRun.objects.bulk_create(fresh)
        added += len(fresh)
    _budgets_seed()
    return added


def _budgets_seed() -> None:
    """A budget per ECM team and one for the tenant, far above the demo's spend: visible in the admin."""
    for membership in Membership.objects.filter(team__tenant__slug="aspora-remit", team__slug="ecm-field")[:1]:
        tenant, team = membership.team.tenant, membership.team
        Budget.objects.get_or_create(
            tenant=tenant,
            scope=BudgetScope.TEAM,
            team=team,
            defaults={"monthly_limit_usd": Decimal("50.00"), "warn_at_percent": 80},
        )
        Budget.objects.get_or_create(
            tenant=tenant, scope=BudgetScope.TENANT, defaults={"monthly_limit_usd": Decimal("500.00")}
        )
