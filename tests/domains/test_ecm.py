"""ECM's daily work: details with history, notes, reassigning inside the team, resolving."""

from domains.ecm.models import Ticket, TicketStatus
from tests.domains.helpers import ask


def _ticket(number: int) -> Ticket:
    return Ticket.objects.get(tenant__slug="aspora-remit", number=number)


def test_ticket_detail_shows_the_customer_and_the_history(demo):
    run = ask("sarah", "show ticket 1042")

    assert run.skill.name == "ticket-detail"
    assert "- **customer**: Rahul Mehta" in run.answer
    assert "system · opened: Raised by the payments monitor." in run.answer


def test_a_note_lands_in_the_history_with_its_author(demo):
    ask("sarah", "add a note to ticket 1045: customer sent the compliance documents")

    event = _ticket(1045).history.last()
    assert (event.actor.username, event.action, event.detail) == (
        "sarah",
        "note",
        "customer sent the compliance documents",
    )


def test_reassigning_stays_inside_the_team(demo):
    inside = ask("omar", "reassign ticket 1046 to priya")
    outside = ask("omar", "reassign ticket 1042 to raj")

    assert _ticket(1046).assignee.username == "priya"
    assert "'raj' is not a member of your team." in outside.answer
    assert _ticket(1042).assignee.username == "sarah"
    assert inside.status == outside.status == "succeeded"


def test_only_the_assignee_or_a_manager_resolves_a_ticket(demo):
    refused = ask("sarah", "resolve ticket 1047 as paid out")
    by_owner = ask("amir", "resolve ticket 1047 as paid out")

    assert "Ticket #1047 is Amir Saleh's; only they or a manager can resolve it." in refused.answer
    assert "- **resolution**: Paid out" in by_owner.answer
    assert (_ticket(1047).status, _ticket(1047).resolution) == (TicketStatus.RESOLVED, "paid_out")


def test_the_team_queue_is_for_managers(demo):
    manager = ask("omar", "show the team queue")

    assert manager.skill.name == "team-queue"
    assert manager.answer.startswith("- **summary**: ")
    assert "breached SLA" in manager.answer
