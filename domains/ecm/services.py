"""ECM writes. Every change to a ticket adds a history row in the same transaction, and the people
it concerns are notified after commit (`tenants.notifications`)."""

from django.db import transaction

from aspora.errors import ApplicationError
from domains.ecm.models import Priority, Resolution, Ticket, TicketEvent, TicketStatus
from tenants.context import AskerContext
from tenants.models import Membership, Role, User
from tenants.notifications import person_notify

MANAGING_ROLES = (Role.MANAGER, Role.OPS_MANAGER)


class TicketStateError(ApplicationError):
    status_code = 409


def ticket_link(ticket: Ticket) -> str:
    return f"/ecm/tickets/{ticket.number}/"


def _team_manager(context: AskerContext) -> User | None:
    membership = (
        Membership.objects.select_related("user")
        .filter(team=context.team, role=Role.MANAGER)
        .exclude(user=context.user)
        .order_by("pk")
        .first()
    )
    return membership.user if membership else None


def _locked(ticket: Ticket) -> Ticket:
    return Ticket.objects.select_for_update().get(pk=ticket.pk)


def _record(ticket: Ticket, context: AskerContext, action: str, detail: str) -> None:
    TicketEvent.objects.create(ticket=ticket, actor=context.user, action=action, detail=detail)


def _open_only(ticket: Ticket, verb: str) -> None:
    if ticket.status == TicketStatus.RESOLVED:
        raise TicketStateError(f"Ticket #{ticket.number} is resolved; it cannot be {verb}.")


@transaction.atomic
def ticket_escalate(*, context: AskerContext, ticket: Ticket, reason: str) -> tuple[Ticket, User | None]:
    """Escalate to the team's manager; returns the ticket and the manager notified (None: no manager)."""
    _open_only(ticket, "escalated")
    ticket = _locked(ticket)
    manager = _team_manager(context)
    ticket.escalation_level += 1
    ticket.priority = min(ticket.priority + 1, Priority.URGENT)
    ticket.status = TicketStatus.ESCALATED
    ticket.save(update_fields=["escalation_level", "priority", "status", "updated_at"])
    _record(
        ticket, context, "escalated", f"Level {ticket.escalation_level} to {manager or 'the team manager'}: {reason}"
    )
    if manager is not None:
        person_notify(
            user=manager,
            title=f"Ticket #{ticket.number} escalated by {context.user}",
            text=reason,
            link=ticket_link(ticket),
        )
    return ticket, manager


@transaction.atomic
def ticket_note_add(*, context: AskerContext, ticket: Ticket, note: str) -> TicketEvent:
    event = TicketEvent.objects.create(ticket=ticket, actor=context.user, action="note", detail=note)
    Ticket.objects.filter(pk=ticket.pk).update(updated_at=event.at)
    return event


@transaction.atomic
def ticket_reassign(*, context: AskerContext, ticket: Ticket, assignee: User) -> Ticket:
    _open_only(ticket, "reassigned")
    ticket = _locked(ticket)
    previous = ticket.assignee
    ticket.assignee = assignee
    ticket.save(update_fields=["assignee", "updated_at"])
    _record(ticket, context, "reassigned", f"From {previous or 'nobody'} to {assignee}")
    if assignee != context.user:
        person_notify(
            user=assignee, title=f"Ticket #{ticket.number} is yours now", text=f"Reassigned by {context.user}.",
            link=ticket_link(ticket),
        )  # fmt: skip
    return ticket


@transaction.atomic
def ticket_resolve(*, context: AskerContext, ticket: Ticket, resolution: str, note: str = "") -> Ticket:
    _open_only(ticket, "resolved again")
    if ticket.status == TicketStatus.COMPLIANCE_HOLD:
        raise TicketStateError(f"Ticket #{ticket.number} is on a compliance hold with FinCrime; they release it.")
    ticket = _locked(ticket)
    ticket.status = TicketStatus.RESOLVED
    ticket.resolution = Resolution(resolution)
    ticket.save(update_fields=["status", "resolution", "updated_at"])
    _record(ticket, context, "resolved", f"{ticket.get_resolution_display()}. {note}".strip())
    return ticket


@transaction.atomic
def ticket_hand_to_fincrime(*, context: AskerContext, ticket: Ticket, reason: str):
    """A manager puts a ticket on compliance hold and opens a FinCrime alert for it."""
    from domains.fincrime.services import alert_open_from_ticket

    _open_only(ticket, "handed to FinCrime")
    if ticket.status == TicketStatus.COMPLIANCE_HOLD:
        raise TicketStateError(f"Ticket #{ticket.number} is already with FinCrime.")
    ticket = _locked(ticket)
    alert = alert_open_from_ticket(context=context, ticket=ticket, reason=reason)
    ticket.status = TicketStatus.COMPLIANCE_HOLD
    ticket.save(update_fields=["status", "updated_at"])
    _record(ticket, context, "handed to FinCrime", f"Alert {alert.number} opened: {reason}")
    return ticket, alert
