"""The original demo's workflow across people: field agent → manager → FinCrime analyst."""

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from aspora.realtime import user_group
from domains.ecm.models import Ticket, TicketStatus
from domains.fincrime.models import Alert, AlertStatus, AlertType
from skills.models import RunStatus
from tenants.models import User
from tests.domains.helpers import ask


def _inbox(username: str) -> str:
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)("test.")
    async_to_sync(layer.group_add)(user_group(User.objects.get(username=username).pk), channel)
    return channel


def _next(channel: str) -> dict:
    return async_to_sync(get_channel_layer().receive)(channel)


def test_sarah_escalates_omar_hands_to_fincrime_and_raj_opens_a_case(demo):
    omar_inbox, raj_inbox = _inbox("omar"), _inbox("raj")

    escalated = ask("sarah", "escalate ticket 1043 because customs has held it for a week")
    queue = ask("omar", "show the team queue")
    handed = ask("omar", "hand ticket 1043 to FinCrime because the consignee is on a watchlist")
    alert = Alert.objects.get(source_ticket__number=1043)
    investigated = ask("raj", f"investigate alert {alert.number}")
    cased = ask("raj", f"escalate alert {alert.number} to a case because the consignee matches a listed entity")

    assert [r.status for r in (escalated, queue, handed, investigated, cased)] == [RunStatus.SUCCEEDED] * 5
    assert (escalated.skill.name, queue.skill.name, handed.skill.name) == (
        "escalate-shipment",
        "team-queue",
        "hand-to-fincrime",
    )
    assert _next(omar_inbox)["title"] == "Ticket #1043 escalated by Sarah Khan"
    queue_rows = [line for line in queue.answer.splitlines() if line.startswith("| [#")]
    assert queue_rows[0].startswith("| [#1048]")  # escalated earlier, breached
    assert any(row.startswith("| [#1043]") and "| Escalated |" in row for row in queue_rows[:3])
    raj_notice = _next(raj_inbox)
    assert (raj_notice["title"], raj_notice["link"]) == (
        f"New alert {alert.number} from ECM",
        f"/fincrime/alerts/{alert.number}/",
    )
    assert (alert.type, alert.team.slug, alert.status) == (AlertType.CUSTOMER_RISK, "fincrime", AlertStatus.NEW)
    assert "[#1043](/ecm/tickets/1043/)" in investigated.answer
    ticket = Ticket.objects.get(tenant__slug="aspora-remit", number=1043)
    assert ticket.status == TicketStatus.COMPLIANCE_HOLD
    assert [(e.actor.username if e.actor else None, e.action) for e in ticket.history.all()] == [
        (None, "opened"),
        ("sarah", "escalated"),
        ("omar", "handed to FinCrime"),
        ("raj", "FinCrime case opened"),
    ]
    alert.refresh_from_db()
    assert alert.status == AlertStatus.ESCALATED
    assert alert.customer.risk_rating == "high"


def test_a_ticket_with_fincrime_cannot_be_resolved_by_ecm(demo):
    ask("omar", "hand ticket 1046 to FinCrime because the card top-ups look like layering")

    run = ask("omar", "resolve ticket 1046 as refunded")

    assert "is on a compliance hold with FinCrime; they release it." in run.answer
    assert Ticket.objects.get(tenant__slug="aspora-remit", number=1046).status == TicketStatus.COMPLIANCE_HOLD
