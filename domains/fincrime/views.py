"""FinCrime pages: an alert with its customer, matches, notes and case, and the case's close and
reopen forms.

Reads go through `domains.fincrime.selectors` (an alert outside the person's teams is a 404); each
write is one service call. Who may decide a case is the service's rule: a refusal is a 403, a
wrong field re-renders the page with the service's message next to that field.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from domains.fincrime.models import Alert, Case, CaseOutcome
from domains.fincrime.selectors import alert_get_for_user, case_get_for_alert, case_may_decide
from domains.fincrime.services import (
    CaseInputError,
    CasePermissionError,
    CaseStateError,
    alert_link,
    case_close,
    case_reopen,
)
from tenants.context import Channel
from tenants.services import asker_context_build


def _alert_or_404(request, number: int) -> Alert:
    alert = alert_get_for_user(user=request.user, number=number)
    if alert is None:
        raise Http404("No such alert in your teams.")
    return alert


def _case_or_404(alert: Alert) -> Case:
    case = case_get_for_alert(alert=alert)
    if case is None:
        raise Http404(f"Alert {alert.number} has no case.")
    return case


def _page(request, alert: Alert, case: Case | None, *, form: dict | None = None, status: int = 200):
    """The alert page; `form` carries what a refused case form posted and the field it names."""
    return render(
        request,
        "fincrime/alert_detail.html",
        {
            "alert": alert,
            "case": case,
            "may_decide": case is not None and case_may_decide(user=request.user, alert=alert),
            "outcomes": CaseOutcome.choices,
            "form": form or {},
            "transactions": alert.customer.transactions.order_by("-created_at")[:12],
            "matches": alert.matches.select_related("entry"),
            "notes": alert.notes.select_related("author"),
            "requests": alert.disposition_requests.select_related("requested_by", "decided_by"),
        },
        status=status,
    )


@login_required
def alert_detail(request, number: int):
    alert = _alert_or_404(request, number)
    return _page(request, alert, case_get_for_alert(alert=alert))


def _decide(request, number: int, decide, done: str):
    alert = _alert_or_404(request, number)
    case = _case_or_404(alert)
    posted = {key: request.POST.get(key, "") for key in ("outcome", "detail", "reason")}
    context = asker_context_build(user=request.user, channel=Channel.WEB, team=alert.team)
    try:
        decide(context=context, case=case, posted=posted)
    except CasePermissionError as exc:
        raise PermissionDenied(exc.message) from exc
    except CaseInputError as exc:
        form = {**posted, "field": exc.extra.get("field"), "error": exc.message}
        return _page(request, alert, case, form=form, status=422)
    except CaseStateError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done)
    return redirect(alert_link(alert))


@login_required
@require_POST
def case_close_view(request, number: int):
    def close(*, context, case, posted):
        case_close(context=context, case=case, outcome=posted["outcome"], detail=posted["detail"])

    return _decide(request, number, close, "Case closed. Its retention period starts today.")


@login_required
@require_POST
def case_reopen_view(request, number: int):
    def reopen(*, context, case, posted):
        case_reopen(context=context, case=case, reason=posted["reason"])

    return _decide(request, number, reopen, "Case reopened.")
