"""ECM demo tickets: Sarah's queue (two past SLA), a colleague's, and Northwind's own."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from domains.ecm.models import Priority, Ticket, TicketEvent, TicketKind
from tenants.models import Team, User

# (number, owner, kind, title, corridor, amount, currency, customer, priority, hours until SLA due)
TICKETS = [
    (1042, "sarah", TicketKind.STUCK_TRANSFER, "Transfer stuck at beneficiary bank", "AE→IN", "4250.00", "AED", "Rahul Mehta", Priority.HIGH, -5),
    (1043, "sarah", TicketKind.SHIPMENT, "Card shipment held at customs", "GB→AE", "0.00", "GBP", "Fatima Noor", Priority.MEDIUM, 20),
    (1044, "sarah", TicketKind.PAYMENT_FAILURE, "Payout rejected: name mismatch", "AE→PK", "1800.00", "AED", "Imran Qureshi", Priority.MEDIUM, -1),
    (1045, "sarah", TicketKind.STUCK_TRANSFER, "Transfer pending compliance review", "US→IN", "950.00", "USD", "Anita Rao", Priority.LOW, 48),
    (1046, "omar", TicketKind.PAYMENT_FAILURE, "Duplicate debit on card top-up", "AE→AE", "300.00", "AED", "Lina Haddad", Priority.HIGH, 6),
]  # fmt: skip
NORTHWIND_TICKETS = [
    (1042, "theo", TicketKind.STUCK_TRANSFER, "Northwind: SEPA transfer returned", "FR→DE", "12000.00", "EUR", "Claire Dubois", Priority.URGENT, 3),
]  # fmt: skip


def _seed(rows, team: Team) -> int:
    now = timezone.now()
    created = 0
    for number, owner, kind, title, corridor, amount, currency, customer, priority, due_hours in rows:
        ticket, was_created = Ticket.objects.get_or_create(
            tenant=team.tenant,
            number=number,
            defaults={
                "team": team,
                "kind": kind,
                "title": title,
                "corridor": corridor,
                "amount": Decimal(amount),
                "currency": currency,
                "customer": customer,
                "priority": priority,
                "sla_due_at": now + timedelta(hours=due_hours),
                "assignee": User.objects.get(username=owner),
            },
        )
        if was_created:
            TicketEvent.objects.create(
                ticket=ticket, actor=None, action="opened", detail="Imported from the payments monitor."
            )
            created += 1
    return created


def ecm_demo_seed() -> int:
    field = Team.objects.get(tenant__slug="aspora-remit", slug="ecm-field")
    northwind = Team.objects.get(tenant__slug="northwind", slug="northwind-ops")
    return _seed(TICKETS, field) + _seed(NORTHWIND_TICKETS, northwind)
