"""ECM tools. Each reads the asker from `ctx.deps.context`; no argument can name another person,
team or tenant, and a ticket outside the asker's team is reported as not found."""

from typing import Literal

from django.utils import timezone
from pydantic_ai import FunctionToolset, RunContext

from domains.ecm.models import Ticket
from domains.ecm.selectors import ticket_get_for_context, ticket_list_for_context
from domains.ecm.services import ticket_escalate
from skills.deps import SkillDeps

toolset = FunctionToolset[SkillDeps]()


def _ticket_row(ticket: Ticket) -> dict:
    now = timezone.now()
    return {
        "number": ticket.number,
        "title": ticket.title,
        "kind": ticket.get_kind_display(),
        "corridor": ticket.corridor,
        "amount": f"{ticket.amount:,.2f} {ticket.currency}",
        "customer": ticket.customer,
        "status": ticket.status,
        "priority": ticket.get_priority_display(),
        "sla_due": ticket.sla_due_at.strftime("%d %b %H:%M UTC"),
        "sla_breached": ticket.sla_due_at < now,
        "escalation_level": ticket.escalation_level,
    }


@toolset.tool
def list_my_tickets(
    ctx: RunContext[SkillDeps], status: Literal["active", "open", "escalated", "resolved", "all"] = "active"
) -> list[dict]:
    """List the asker's own tickets, most urgent SLA first, with SLA breaches flagged.

    Args:
        status: which tickets: active (open or escalated, the default), open, escalated, resolved or all.
    """
    return [_ticket_row(t) for t in ticket_list_for_context(context=ctx.deps.context, status=status)[:50]]


@toolset.tool
def escalate_ticket(ctx: RunContext[SkillDeps], ticket_number: int, reason: str) -> dict:
    """Escalate one of the team's tickets to the team manager: priority rises and the manager is notified.

    Args:
        ticket_number: the ticket number, e.g. 1042.
        reason: why it needs the manager, in the asker's words.
    """
    ticket = ticket_get_for_context(context=ctx.deps.context, number=ticket_number)
    if ticket is None:
        return {"error": f"Ticket #{ticket_number} was not found in your team's queue."}
    ticket = ticket_escalate(context=ctx.deps.context, ticket=ticket, reason=reason)
    manager = ticket.notified_manager
    return {
        "escalated": _ticket_row(ticket),
        "notified": str(manager) if manager else "no manager in the team; the ticket is flagged escalated",
    }
