"""ECM tools. Each reads the asker from `ctx.deps.context`; no argument can name another tenant or
team, a ticket outside the asker's team is reported as not found, and a reassignment can only go
to a member of the asker's team."""

from typing import Literal

from pydantic_ai import FunctionToolset, RunContext

from domains.ecm.models import Resolution, Ticket
from domains.ecm.selectors import (
    team_member_get,
    team_role_of,
    ticket_get_for_context,
    ticket_list_for_context,
    ticket_queue_for_context,
    ticket_sla_state,
)
from domains.ecm.services import (
    MANAGING_ROLES,
    TicketStateError,
    ticket_escalate,
    ticket_hand_to_fincrime,
    ticket_link,
    ticket_note_add,
    ticket_reassign,
    ticket_resolve,
)
from domains.formatting import link, money, when
from skills.deps import WRITES, SkillDeps
from tenants.context import AskerContext

toolset = FunctionToolset[SkillDeps]()
QUEUE_ROWS = 20
TicketStatusFilter = Literal["active", "open", "escalated", "compliance_hold", "resolved", "all"]


def _row(ticket: Ticket, context: AskerContext) -> dict:
    return {
        "ticket": link(f"#{ticket.number}", ticket_link(ticket)),
        "title": ticket.title,
        "corridor": ticket.corridor,
        "amount": money(ticket.amount, ticket.currency),
        "priority": ticket.get_priority_display(),
        "status": ticket.get_status_display(),
        "sla_due": when(ticket.sla_due_at, context),
        "sla": ticket_sla_state(ticket),
    }


def _not_found(number: int) -> dict:
    return {"error": f"Ticket #{number} was not found in your team's queue."}


@toolset.tool
def list_my_tickets(ctx: RunContext[SkillDeps], status: TicketStatusFilter = "active") -> list[dict]:
    """List the asker's own tickets, most urgent SLA first, with SLA breaches flagged.

    Args:
        status: which tickets: active (everything not resolved, the default), open, escalated, resolved or all.
    """
    context = ctx.deps.context
    return [_row(t, context) for t in ticket_list_for_context(context=context, status=status)[:50]]


@toolset.tool
def team_queue(ctx: RunContext[SkillDeps], status: TicketStatusFilter = "active") -> dict:
    """The team's ticket queue for a manager: escalations first, then SLA risk, with who holds each.

    Args:
        status: which tickets: active (the default), open, escalated, compliance_hold, resolved or all.
    """
    context = ctx.deps.context
    if team_role_of(context=context) not in MANAGING_ROLES:
        return {"error": "The team queue is for the team's managers."}
    tickets = list(ticket_queue_for_context(context=context, status=status))
    states = [ticket_sla_state(t) for t in tickets]
    shown = tickets[:QUEUE_ROWS]
    rows = [{**_row(t, context), "assignee": str(t.assignee or "—"), "escalations": t.escalation_level} for t in shown]
    summary = f"{len(tickets)} tickets: {states.count('breached')} breached SLA, {states.count('at risk')} at risk"
    if len(tickets) > len(shown):
        summary += f" (the {len(shown)} most urgent shown)"
    return {"summary": summary, "tickets": rows}


@toolset.tool
def ticket_detail(ctx: RunContext[SkillDeps], ticket_number: int) -> dict:
    """One of the team's tickets with its customer, amounts, SLA and full history.

    Args:
        ticket_number: the ticket number, e.g. 1042.
    """
    context = ctx.deps.context
    ticket = ticket_get_for_context(context=context, number=ticket_number)
    if ticket is None:
        return _not_found(ticket_number)
    history = [
        f"{when(e.at, context)} · {e.actor or 'system'} · {e.action}" + (f": {e.detail}" if e.detail else "")
        for e in ticket.history.select_related("actor")
    ]
    return {
        **_row(ticket, context),
        "kind": ticket.get_kind_display(),
        "customer": ticket.customer,
        "assignee": str(ticket.assignee or "—"),
        "escalation_level": ticket.escalation_level,
        "history": history,
    }


@toolset.tool(metadata=WRITES)
def escalate_ticket(ctx: RunContext[SkillDeps], ticket_number: int, reason: str) -> dict:
    """Escalate one of the team's tickets to the team manager: priority rises and the manager is notified.

    Args:
        ticket_number: the ticket number, e.g. 1042.
        reason: why it needs the manager, in the asker's words.
    """
    context = ctx.deps.context
    ticket = ticket_get_for_context(context=context, number=ticket_number)
    if ticket is None:
        return _not_found(ticket_number)
    try:
        ticket, manager = ticket_escalate(context=context, ticket=ticket, reason=reason)
    except TicketStateError as exc:
        return {"error": exc.message}
    return {
        "escalated": _row(ticket, context),
        "notified": str(manager) if manager else "no manager in the team; the ticket is flagged escalated",
    }


@toolset.tool(metadata=WRITES)
def add_ticket_note(ctx: RunContext[SkillDeps], ticket_number: int, note: str) -> dict:
    """Add a note to one of the team's tickets; it is kept in the ticket's history.

    Args:
        ticket_number: the ticket number, e.g. 1042.
        note: the note to add, in the asker's words.
    """
    context = ctx.deps.context
    ticket = ticket_get_for_context(context=context, number=ticket_number)
    if ticket is None:
        return _not_found(ticket_number)
    event = ticket_note_add(context=context, ticket=ticket, note=note)
    return {
        "ticket": link(f"#{ticket.number}", ticket_link(ticket)),
        "note_added": event.detail,
        "at": when(event.at, context),
    }


@toolset.tool(metadata=WRITES)
def reassign_ticket(ctx: RunContext[SkillDeps], ticket_number: int, assignee_username: str) -> dict:
    """Hand one of the team's tickets to another member of the same team.

    Args:
        ticket_number: the ticket number, e.g. 1042.
        assignee_username: the username of the team member who takes it over, e.g. omar.
    """
    context = ctx.deps.context
    ticket = ticket_get_for_context(context=context, number=ticket_number)
    if ticket is None:
        return _not_found(ticket_number)
    assignee = team_member_get(context=context, username=assignee_username)
    if assignee is None:
        return {"error": f"{assignee_username!r} is not a member of your team."}
    try:
        ticket = ticket_reassign(context=context, ticket=ticket, assignee=assignee)
    except TicketStateError as exc:
        return {"error": exc.message}
    return {"reassigned": _row(ticket, context), "now_with": str(assignee)}


@toolset.tool(metadata=WRITES)
def resolve_ticket(
    ctx: RunContext[SkillDeps],
    ticket_number: int,
    resolution: Literal["paid_out", "refunded", "delivered", "cancelled", "duplicate"],
) -> dict:
    """Resolve one of the asker's tickets (or, for a manager, the team's) with a resolution code.

    Args:
        ticket_number: the ticket number, e.g. 1042.
        resolution: how it ended: paid_out, refunded, delivered, cancelled or duplicate.
    """
    context = ctx.deps.context
    ticket = ticket_get_for_context(context=context, number=ticket_number)
    if ticket is None:
        return _not_found(ticket_number)
    if ticket.assignee_id != context.user.pk and team_role_of(context=context) not in MANAGING_ROLES:
        return {"error": f"Ticket #{ticket_number} is {ticket.assignee}'s; only they or a manager can resolve it."}
    try:
        ticket = ticket_resolve(context=context, ticket=ticket, resolution=resolution)
    except TicketStateError as exc:
        return {"error": exc.message}
    return {"resolved": _row(ticket, context), "resolution": Resolution(resolution).label}


@toolset.tool(metadata=WRITES)
def hand_to_fincrime(ctx: RunContext[SkillDeps], ticket_number: int, reason: str) -> dict:
    """For a manager: put a ticket that looks like a compliance matter on hold and open a FinCrime alert.

    Args:
        ticket_number: the ticket number, e.g. 1042.
        reason: why FinCrime should look at it.
    """
    context = ctx.deps.context
    if team_role_of(context=context) not in MANAGING_ROLES:
        return {"error": "Only the team's managers hand tickets to FinCrime."}
    ticket = ticket_get_for_context(context=context, number=ticket_number)
    if ticket is None:
        return _not_found(ticket_number)
    try:
        ticket, alert = ticket_hand_to_fincrime(context=context, ticket=ticket, reason=reason)
    except TicketStateError as exc:
        return {"error": exc.message}
    return {
        "ticket": _row(ticket, context),
        "fincrime_alert": link(f"Alert {alert.number}", f"/fincrime/alerts/{alert.number}/"),
        "notified": "the FinCrime analysts",
    }
