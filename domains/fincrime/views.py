from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from domains.fincrime.selectors import alert_get_for_user


@login_required
def alert_detail(request, number: int):
    alert = alert_get_for_user(user=request.user, number=number)
    if alert is None:
        raise Http404("No such alert in your teams.")
    return render(
        request,
        "fincrime/alert_detail.html",
        {
            "alert": alert,
            "transactions": alert.customer.transactions.order_by("-created_at")[:12],
            "matches": alert.matches.select_related("entry"),
            "notes": alert.notes.select_related("author"),
            "requests": alert.disposition_requests.select_related("requested_by", "decided_by"),
        },
    )
