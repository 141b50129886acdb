"""ECM demo tickets: the showcase tickets the docs and evals quote, plus a few hundred generated
ones (mostly resolved history) from a seed, so the same seed always gives the same queue."""

import random
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from domains.ecm.models import Priority, Resolution, Ticket, TicketEvent, TicketKind, TicketStatus
from tenants.models import Team, User

# (number, owner, kind, title, corridor, amount, currency, customer, priority, hours until SLA due, escalations)
SHOWCASE = [
    (1042, "sarah", TicketKind.STUCK_TRANSFER, "Transfer stuck at beneficiary bank", "AE→IN", "4250.00", "AED", "Rahul Mehta", Priority.HIGH, -5, 0),
    (1043, "sarah", TicketKind.SHIPMENT, "Card shipment held at customs", "GB→AE", "35.00", "GBP", "Fatima Noor", Priority.MEDIUM, 20, 0),
    (1044, "sarah", TicketKind.PAYMENT_FAILURE, "Payout rejected: name mismatch", "AE→PK", "1800.00", "AED", "Imran Qureshi", Priority.MEDIUM, -1, 0),
    (1045, "sarah", TicketKind.STUCK_TRANSFER, "Transfer pending compliance review", "US→IN", "950.00", "USD", "Anita Rao", Priority.LOW, 48, 0),
    (1046, "omar", TicketKind.PAYMENT_FAILURE, "Duplicate debit on card top-up", "AE→AE", "300.00", "AED", "Lina Haddad", Priority.HIGH, 6, 0),
    (1047, "amir", TicketKind.SHIPMENT, "Cash pickup not collected", "AE→PH", "2000.00", "AED", "Maria Santos", Priority.MEDIUM, 2, 0),
    (1048, "priya", TicketKind.STUCK_TRANSFER, "SWIFT return: beneficiary account closed", "AE→EG", "15500.00", "AED", "Omar Farouk", Priority.HIGH, -20, 1),
    (1049, "amir", TicketKind.PAYMENT_FAILURE, "Card payment declined twice, charged once", "AE→AE", "129.00", "AED", "Daniel Brooks", Priority.LOW, 30, 0),
]  # fmt: skip
NORTHWIND = [
    (1042, "theo", TicketKind.STUCK_TRANSFER, "Northwind: SEPA transfer returned", "FR→DE", "12000.00", "EUR", "Claire Dubois", Priority.URGENT, 3, 0),
]  # fmt: skip

CORRIDORS = [("AE→IN", "AED"), ("AE→PK", "AED"), ("AE→PH", "AED"), ("AE→EG", "AED"), ("GB→IN", "GBP"), ("US→IN", "USD"),
             ("SA→IN", "SAR"), ("AE→BD", "AED"), ("GB→NG", "GBP"), ("US→MX", "USD")]  # fmt: skip
FIRST = ["Rahul", "Aisha", "Mohammed", "Priyanka", "Jose", "Fatima", "Arjun", "Chen", "Grace", "Yusuf", "Sana", "Ali",
         "Deepa", "Kofi", "Ana", "Ravi", "Noor", "Bilal", "Meera", "Tariq"]  # fmt: skip
LAST = ["Sharma", "Khan", "Reyes", "Okafor", "Iyer", "Hassan", "Das", "Mensah", "Cruz", "Qureshi", "Nair", "Ahmed",
        "Pillai", "Lopez", "Rahman", "Menon", "Aziz", "Gupta", "Bose", "Yilmaz"]  # fmt: skip
TITLES = {
    TicketKind.STUCK_TRANSFER: ["Transfer stuck at correspondent bank", "Transfer on hold: beneficiary name check",
                                "SWIFT MT103 not acknowledged", "Instant transfer timed out"],
    TicketKind.SHIPMENT: ["Card shipment delayed in transit", "Card returned: address not found", "Courier lost the card"],
    TicketKind.PAYMENT_FAILURE: ["Payout rejected by beneficiary bank", "Wallet top-up failed but debited",
                                 "Bill payment reversed", "Direct debit bounced"],
}  # fmt: skip
GENERATED_FROM = 1100


def _create(rows, team: Team, now) -> int:
    created = 0
    for number, owner, kind, title, corridor, amount, currency, customer, priority, due_hours, escalations in rows:
        ticket, was_created = Ticket.objects.get_or_create(
            tenant=team.tenant,
            number=number,
            defaults={
                "team": team, "kind": kind, "title": title, "corridor": corridor, "amount": Decimal(amount),
                "currency": currency, "customer": customer, "priority": priority,
                "sla_due_at": now + timedelta(hours=due_hours), "assignee": User.objects.get(username=owner),
                "escalation_level": escalations,
                "status": TicketStatus.ESCALATED if escalations else TicketStatus.OPEN,
            },
        )  # fmt: skip
        if was_created:
            TicketEvent.objects.create(
                ticket=ticket, actor=None, action="opened", detail="Raised by the payments monitor."
            )
            created += 1
    return created


def _generated(rng: random.Random, count: int, team: Team, now) -> int:
    if Ticket.objects.filter(tenant=team.tenant, number__gte=GENERATED_FROM).exists():
        return 0
    agents = list(User.objects.filter(username__in=["sarah", "amir", "priya", "omar"]).order_by("username"))
    tickets, events = [], []
    for offset in range(count):
        kind = rng.choice(list(TITLES))
        corridor, currency = rng.choice(CORRIDORS)
        assignee = agents[offset % len(agents)]
        # Sarah's queue stays the showcase: her generated tickets are history. Open ones are recent.
        open_now = assignee.username != "sarah" and rng.random() < 0.12
        opened = now - timedelta(hours=rng.randint(1, 60) if open_now else rng.randint(72, 24 * 60))
        tickets.append(
            Ticket(
                tenant=team.tenant, team=team, number=GENERATED_FROM + offset, kind=kind, title=rng.choice(TITLES[kind]),
                corridor=corridor, currency=currency, amount=Decimal(rng.randint(50, 20000)),
                customer=f"{rng.choice(FIRST)} {rng.choice(LAST)}", priority=rng.choice(list(Priority)),
                sla_due_at=opened + timedelta(hours=rng.choice([24, 48, 72])), assignee=assignee,
                status=TicketStatus.OPEN if open_now else TicketStatus.RESOLVED,
                resolution="" if open_now else rng.choice(list(Resolution)),
            )
        )  # fmt: skip
    Ticket.objects.bulk_create(tickets, batch_size=500)
    for ticket in Ticket.objects.filter(tenant=team.tenant, number__gte=GENERATED_FROM):
        events.append(TicketEvent(ticket=ticket, actor=None, action="opened", detail="Raised by the payments monitor."))
        if ticket.status == TicketStatus.RESOLVED:
            events.append(
                TicketEvent(
                    ticket=ticket, actor=ticket.assignee, action="resolved", detail=ticket.get_resolution_display()
                )
            )
    TicketEvent.objects.bulk_create(events, batch_size=1000)
    return count


def ecm_demo_seed(*, seed: int = 7, count: int = 300) -> int:
    now = timezone.now()
    field = Team.objects.get(tenant__slug="aspora-remit", slug="ecm-field")
    northwind = Team.objects.get(tenant__slug="northwind", slug="northwind-ops")
    created = _create(SHOWCASE, field, now) + _create(NORTHWIND, northwind, now)
    return created + _generated(random.Random(seed), count, field, now)
