"""ECM reads, scoped by the injected context: a person sees their team's tickets, never another's."""

from datetime import timedelta

from django.db.models import QuerySet
from django.utils import timezone

from domains.ecm.models import Ticket, TicketStatus
from tenants.context import AskerContext
from tenants.models import Membership, User

SLA_RISK_WINDOW = timedelta(hours=4)


def _team_tickets(context: AskerContext) -> QuerySet[Ticket]:
    return Ticket.objects.filter(tenant=context.tenant, team=context.team).select_related("assignee")


def _by_status(tickets: QuerySet[Ticket], status: str | None) -> QuerySet[Ticket]:
    if status in (None, "active"):
        return tickets.exclude(status=TicketStatus.RESOLVED)
    if status == "all":
        return tickets
    return tickets.filter(status=status)


def ticket_list_for_context(*, context: AskerContext, status: str | None = None, mine: bool = True) -> QuerySet[Ticket]:
    tickets = _team_tickets(context)
    if mine:
        tickets = tickets.filter(assignee=context.user)
    return _by_status(tickets, status).order_by("sla_due_at", "-priority")


def ticket_queue_for_context(*, context: AskerContext, status: str | None = None) -> QuerySet[Ticket]:
    """The team's queue as a manager sees it: escalations first, then by SLA."""
    return _by_status(_team_tickets(context), status).order_by("-escalation_level", "sla_due_at", "-priority")


def ticket_sla_state(ticket: Ticket) -> str:
    now = timezone.now()
    if ticket.status == TicketStatus.RESOLVED:
        return "met" if ticket.updated_at <= ticket.sla_due_at else "missed"
    if ticket.sla_due_at < now:
        return "breached"
    return "at risk" if ticket.sla_due_at - now < SLA_RISK_WINDOW else "ok"


def ticket_get_for_context(*, context: AskerContext, number: int) -> Ticket | None:
    """A ticket of the asker's team, or None: someone else's ticket looks exactly like a missing one."""
    return _team_tickets(context).filter(number=number).first()


def team_member_get(*, context: AskerContext, username: str) -> User | None:
    membership = (
        Membership.objects.select_related("user")
        .filter(team=context.team, user__username__iexact=username.strip().lstrip("@"), user__is_active=True)
        .first()
    )
    return membership.user if membership else None


def team_role_of(*, context: AskerContext) -> str | None:
    return Membership.objects.filter(team=context.team, user=context.user).values_list("role", flat=True).first()


def ticket_get_for_user(*, user: User, number: int) -> Ticket | None:
    """For the portal's pages: a ticket of one of the person's teams, in their tenant."""
    return (
        Ticket.objects.select_related("assignee", "team")
        .filter(tenant_id=user.tenant_id, team__memberships__user=user, number=number)
        .first()
    )
