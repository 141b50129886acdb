from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from domains.ecm.selectors import ticket_get_for_user, ticket_sla_state


@login_required
def ticket_detail(request, number: int):
    ticket = ticket_get_for_user(user=request.user, number=number)
    if ticket is None:
        raise Http404("No such ticket in your teams.")
    history = ticket.history.select_related("actor")
    return render(
        request,
        "ecm/ticket_detail.html",
        {"ticket": ticket, "history": history, "sla": ticket_sla_state(ticket), "alerts": ticket.alerts.all()},
    )
