"""GET /api/usage: the usage dashboard's figures, for ops managers, admins and staff."""

from datetime import date

from ninja import Router

from aspora.errors import ApplicationError
from skills.schemas import ProblemOut
from usage.schemas import UsageOut
from usage.selectors import usage_may_view, usage_period_default, usage_summary_for_user

router = Router(tags=["usage"])


class UsageNotPermittedError(ApplicationError):
    status_code = 403


@router.get(
    "/usage",
    response={200: UsageOut, 401: ProblemOut, 403: ProblemOut, 422: ProblemOut},
    operation_id="usage_get",
    summary="Runs, latency, errors and cost per day, and the top skills per domain and team",
)
def usage_get(
    request, start: date | None = None, end: date | None = None, domain: str | None = None, team: str | None = None
):
    """Whole days from `start` to `end` inclusive (default: the last 30 days), in the portal's time zone."""
    if not usage_may_view(request.user):
        raise UsageNotPermittedError("Usage figures are for ops managers, admins and staff.")
    start, end = usage_period_default(start=start, end=end)
    return usage_summary_for_user(user=request.user, start=start, end=end, domain=domain, team=team)
