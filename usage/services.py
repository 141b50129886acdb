"""Admission of a run: per-person rate limits and monthly budgets, checked in one call.

`run_admit()` is called once, by `skills.services` while it decides what runs, for every front
door (console, API, Slack, WhatsApp, `manage.py ask`). It raises an `ApplicationError` the front
door already knows how to show (a refused run, a 429/402 problem, a chat reply), or returns the
notices the run should carry (a budget past its warning line). The console shows a run's notices
as they come; chat bridges put them under the answer through `budget_warnings_take`, once a day
per thread or conversation.

Rate limits are fixed one-minute windows in the cache (Redis in production): `add` then `incr`,
both atomic, so concurrent asks in many processes are counted once each.
"""

import hashlib
import logging
import math
import time
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from aspora.errors import ApplicationError
from skills.models import Skill, SkillRun
from tenants.context import AskerContext
from tenants.models import User
from usage.models import Budget
from usage.selectors import budget_list_for_run, budget_spend_by_budget

logger = logging.getLogger(__name__)
WINDOW_SECONDS = 60
SHOWN_SECONDS = 2 * 24 * 3600  # a day's "shown here" mark, kept past midnight in any time zone
CENT = Decimal("0.01")


class RateLimitedError(ApplicationError):
    status_code = 429


class BudgetExhaustedError(ApplicationError):
    # 402: not a "try again in a minute" (429), and clients must not retry it automatically.
    status_code = 402


def _usd(amount: Decimal) -> str:
    return f"${amount.quantize(CENT, rounding=ROUND_HALF_UP):,.2f}"


def month_bounds(now: datetime | None = None) -> tuple[datetime, datetime]:
    """The current calendar month in the portal's time zone, as [start, next month's start)."""
    local = timezone.localtime(now or timezone.now())
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end


def rate_limit_hit(*, user: User, channel: str, now: float | None = None) -> None:
    """Count one ask by `user` on `channel`; raise `RateLimitedError` past the channel's limit."""
    limit = settings.ASPORA_RATE_LIMITS.get(channel, 0)
    if limit <= 0:
        return
    now = time.time() if now is None else now
    window = int(now // WINDOW_SECONDS)
    key = f"usage:rate:{channel}:{user.pk}:{window}"
    cache.add(key, 0, timeout=WINDOW_SECONDS * 2)
    try:
        count = cache.incr(key)
    except ValueError:  # evicted between add and incr: this ask opens the window again
        cache.set(key, 1, timeout=WINDOW_SECONDS * 2)
        count = 1
    if count > limit:
        retry_after = max(1, math.ceil((window + 1) * WINDOW_SECONDS - now))
        raise RateLimitedError(
            f"You have asked {limit} times in the last minute, the most allowed here. Try again in {retry_after} s.",
            extra={"retry_after": retry_after, "limit_per_minute": limit},
        )


def _refusal_text(budget: Budget, spent: Decimal, end: datetime) -> str:
    return (
        f"{budget.label} of {_usd(budget.monthly_limit_usd)} is spent ({_usd(spent)} this month); "
        f"runs resume on {end.day} {end:%B} or when an ops manager raises it."
    )


def _warning_text(budget: Budget, spent: Decimal, percent: int) -> str:
    return (
        f"{budget.label} is {percent}% used ({_usd(spent)} of {_usd(budget.monthly_limit_usd)} this month); "
        f"at 100% new runs are refused until an ops manager raises it."
    )


def budget_check(*, context: AskerContext, skill: Skill, now: datetime | None = None) -> list[dict]:
    """Refuse when any applicable budget is spent; return a notice per budget past its warning line."""
    budgets = budget_list_for_run(context=context, skill=skill)
    if not budgets:
        return []
    start, end = month_bounds(now)
    spends = budget_spend_by_budget(budgets=budgets, start=start, end=end)
    notices = []
    for budget in budgets:
        spent = spends[budget.pk]
        if spent >= budget.monthly_limit_usd:
            raise BudgetExhaustedError(
                _refusal_text(budget, spent, end),
                extra={"budget_id": budget.pk, "spent_usd": str(spent), "limit_usd": str(budget.monthly_limit_usd)},
            )
        percent = int(spent * 100 / budget.monthly_limit_usd)
        if percent >= budget.warn_at_percent:
            notices.append(
                {
                    "kind": "budget",
                    "budget_id": budget.pk,
                    "percent": percent,
                    "message": _warning_text(budget, spent, percent),
                }
            )
    return notices


def _budget_warning_notify(*, user: User, notice: dict, now: datetime | None = None) -> None:
    """Tell the asker on their channels (portal, Slack DM) once a month per budget, not on every run."""
    from tenants.notifications import person_notify

    start, _ = month_bounds(now)
    if cache.add(f"usage:warned:{notice['budget_id']}:{user.pk}:{start:%Y-%m}", 1, timeout=35 * 24 * 3600):
        person_notify(user=user, title="Budget nearly spent", text=notice["message"], link="/usage/")


def run_admit(*, context: AskerContext, skill: Skill) -> list[dict]:
    """May this run start? Raises the refusal to show; returns the notices the run carries."""
    rate_limit_hit(user=context.user, channel=context.channel)
    notices = budget_check(context=context, skill=skill)
    for notice in notices:
        _budget_warning_notify(user=context.user, notice=notice)
    return notices


def budget_warnings_take(*, run: SkillRun, place: str, now: datetime | None = None) -> list[str]:
    """The budget warnings `run` carries (worded as the console shows them) that `place`, a Slack
    thread or a WhatsApp conversation, has not shown today; taking them marks them shown there, so
    one chat reads a warning once a day rather than under every answer."""
    day = timezone.localdate(now or timezone.now())
    where = hashlib.sha256(place.encode()).hexdigest()[:32]  # cache keys take no free text
    warnings = []
    for event in run.events.filter(type="run.notice").order_by("seq"):
        notice = event.data
        if notice.get("kind") != "budget":
            continue
        if cache.add(f"usage:shown:{notice['budget_id']}:{where}:{day:%Y-%m-%d}", 1, timeout=SHOWN_SECONDS):
            warnings.append(notice["message"])
    return warnings
