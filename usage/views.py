"""The usage dashboard: the same figures as GET /api/usage, drawn with Chart.js (vendored in static/)."""

from datetime import date

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render

from usage.selectors import UsagePeriodError, usage_may_view, usage_period_default, usage_summary_for_user

RANGES = (7, 30, 90)


def _date(value: str | None, name: str) -> tuple[date | None, str | None]:
    if not value:
        return None, None
    try:
        return date.fromisoformat(value), None
    except ValueError:
        return None, f"The {name} date {value!r} is not a date like 2026-11-01; showing the default period."


@login_required
def usage_dashboard(request):
    if not usage_may_view(request.user):
        raise PermissionDenied("Usage figures are for ops managers, admins and staff.")
    problems = []
    start, problem = _date(request.GET.get("start"), "start")
    problems += [problem] if problem else []
    end, problem = _date(request.GET.get("end"), "end")
    problems += [problem] if problem else []
    domain, team = request.GET.get("domain") or None, request.GET.get("team") or None
    days = int(request.GET["days"]) if request.GET.get("days") in {str(n) for n in RANGES} else 30
    start, end = usage_period_default(start=start, end=end, days=days)
    try:
        summary = usage_summary_for_user(user=request.user, start=start, end=end, domain=domain, team=team)
    except UsagePeriodError as exc:
        problems.append(exc.message)
        start, end = usage_period_default(start=None, end=None)
        summary = usage_summary_for_user(user=request.user, start=start, end=end, domain=domain, team=team)
    return render(
        request,
        "usage/dashboard.html",
        {
            "section": "usage",
            "summary": summary,
            "problems": problems,
            "ranges": RANGES,
            "days": (end - start).days + 1,
        },
    )
