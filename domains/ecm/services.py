"""ECM writes. Every change to a ticket adds a history row in the same transaction; a manager is
notified on their portal channel after commit."""

from django.db import transaction

from aspora.errors import ApplicationError
from aspora.realtime import broadcast, user_group
from domains.ecm.models import Priority, Ticket, TicketEvent, TicketStatus
from tenants.context import AskerContext
from tenants.models import Membership, Role


class TicketStateError(ApplicationError):
    status_code = 409


def _team_manager(context: AskerContext):
    membership = (
        Membership.objects.select_related("user")
        .filter(team=context.team, role=Role.MANAGER)
        .exclude(user=context.user)
        .first()
    )
    return membership.user if membership else None


@transaction.atomic
def ticket_escalate(*, context: AskerContext, ticket: Ticket, reason: str) -> Ticket:
    if ticket.status == TicketStatus.RESOLVED:
        raise TicketStateError(f"Ticket #{ticket.number} is resolved; reopen it before escalating.")
    ticket = Ticket.objects.select_for_update().get(pk=ticket.pk)
    manager = _team_manager(context)
    ticket.escalation_level += 1
    ticket.priority = min(ticket.priority + 1, Priority.URGENT)
    ticket.status = TicketStatus.ESCALATED
    ticket.save(update_fields=["escalation_level", "priority", "status", "updated_at"])
    TicketEvent.objects.create(
        ticket=ticket,
        actor=context.user,
        action="escalated",
        detail=f"Level {ticket.escalation_level} to {manager or 'the team manager'}: {reason}",
    )
    if manager is not None:
        payload = {
            "title": f"Ticket #{ticket.number} escalated by {context.user}",
            "text": reason,
            "ticket": ticket.number,
        }
        transaction.on_commit(
            lambda: broadcast(group=user_group(manager.pk), event_type="notification.created", payload=payload)
        )
    ticket.notified_manager = manager
    return ticket
