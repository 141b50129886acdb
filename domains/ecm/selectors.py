"""ECM reads, scoped by the injected context: a person sees their team's tickets, never another's."""

from django.db.models import QuerySet

from domains.ecm.models import Ticket, TicketStatus
from tenants.context import AskerContext


def _team_tickets(context: AskerContext) -> QuerySet[Ticket]:
    return Ticket.objects.filter(tenant=context.tenant, team=context.team).select_related("assignee")


def ticket_list_for_context(*, context: AskerContext, status: str | None = None, mine: bool = True) -> QuerySet[Ticket]:
    tickets = _team_tickets(context)
    if mine:
        tickets = tickets.filter(assignee=context.user)
    if status in (None, "active"):
        tickets = tickets.exclude(status=TicketStatus.RESOLVED)
    elif status != "all":
        tickets = tickets.filter(status=status)
    return tickets.order_by("sla_due_at", "-priority")


def ticket_get_for_context(*, context: AskerContext, number: int) -> Ticket | None:
    """A ticket of the asker's team, or None: someone else's ticket looks exactly like a missing one."""
    return _team_tickets(context).filter(number=number).first()
