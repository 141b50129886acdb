"""FinCrime demo: the showcase alerts the docs and evals quote (5012 structuring, 5013 sanctions
name match, 5014 PEP association) and a few hundred generated alerts from a seed."""

import random
from datetime import date, timedelta
from decimal import Decimal

from django.utils import timezone

from domains.fincrime.models import (
    Alert,
    AlertStatus,
    AlertType,
    Customer,
    RiskRating,
    SanctionsEntry,
    SanctionsMatch,
    Transaction,
)
from tenants.models import Team, User

GENERATED_FROM = 5100
COUNTRIES = ["AE", "IN", "PK", "PH", "EG", "GB", "NG", "BD", "SA", "TR", "CY", "RU", "IR", "LB"]
FIRST = ["Hassan", "Leila", "Dmitri", "Amaka", "Sunil", "Farah", "Ivan", "Zainab", "Karim", "Olga", "Rohan", "Nadia",
         "Samir", "Elena", "Tunde", "Mariam", "Sergei", "Ayesha", "Pavel", "Hoda"]  # fmt: skip
LAST = ["Karimi", "Haddad", "Volkov", "Okoye", "Verma", "Siddiqui", "Morozov", "Bello", "Nasser", "Ivanova", "Kapoor",
        "Rahimi", "Khoury", "Popova", "Adeyemi", "Saleh", "Orlov", "Malik", "Smirnov", "Fahmy"]  # fmt: skip
COUNTERPARTIES = ["Al Noor General Trading", "Gulf Star Electronics", "Emerald Textiles FZE", "Horizon Money Exchange",
                  "Blue Dune Logistics", "Silverline Auto Parts", "Crescent Gold LLC", "Nile Valley Imports"]  # fmt: skip
SUMMARIES = {
    AlertType.TRANSACTION_MONITORING: ["Rapid movement of funds in and out", "Cash deposits just under the threshold",
                                       "Spike in outgoing volume vs profile", "Many senders to one beneficiary"],
    AlertType.SANCTIONS: ["Name match against a sanctions list", "Counterparty name match on EU list"],
    AlertType.CUSTOMER_RISK: ["Customer risk rating raised", "Adverse media hit", "PEP association found"],
}  # fmt: skip


def _showcase(tenant, team, now) -> None:
    raj = User.objects.get(username="raj")
    hamid, _ = Customer.objects.get_or_create(
        tenant=tenant, reference="CUS-10031",
        defaults={"name": "Hamid Karimi", "country": "AE", "date_of_birth": date(1979, 3, 14), "occupation": "Trading company owner",
                  "risk_rating": RiskRating.HIGH, "onboarded_at": date(2021, 6, 2)},
    )  # fmt: skip
    viktor, _ = Customer.objects.get_or_create(
        tenant=tenant, reference="CUS-10032",
        defaults={"name": "Viktor Petrov", "country": "CY", "date_of_birth": date(1968, 11, 2), "occupation": "Shipping broker",
                  "risk_rating": RiskRating.MEDIUM, "onboarded_at": date(2023, 1, 17)},
    )  # fmt: skip
    aisha, _ = Customer.objects.get_or_create(
        tenant=tenant, reference="CUS-10033",
        defaults={"name": "Aisha Bello", "country": "NG", "date_of_birth": date(1985, 7, 21), "occupation": "Consultant",
                  "risk_rating": RiskRating.LOW, "onboarded_at": date(2022, 9, 5)},
    )  # fmt: skip
    structuring = []
    for i in range(9):
        tx, _ = Transaction.objects.get_or_create(
            tenant=tenant, reference=f"TX-90010{i + 1}",
            defaults={"customer": hamid, "direction": "in", "amount": Decimal(9800 - i * 35), "currency": "AED",
                      "counterparty": "Al Noor General Trading" if i % 3 else "Cash deposit, Deira branch",
                      "counterparty_country": "AE", "created_at": now - timedelta(days=6 - i // 2, hours=i)},
        )  # fmt: skip
        structuring.append(tx)
    Transaction.objects.get_or_create(
        tenant=tenant, reference="TX-900120",
        defaults={"customer": viktor, "direction": "out", "amount": Decimal("48000.00"), "currency": "USD",
                  "counterparty": "Baltic Maritime Services", "counterparty_country": "CY", "created_at": now - timedelta(days=2)},
    )  # fmt: skip
    alert, created = Alert.objects.get_or_create(
        tenant=tenant, number=5012,
        defaults={"team": team, "type": AlertType.TRANSACTION_MONITORING, "customer": hamid, "score": 92,
                  "summary": "Structuring: 9 cash deposits just under 10,000 AED in 6 days", "created_at": now - timedelta(days=1)},
    )  # fmt: skip
    if created:
        alert.transactions.set(structuring)
    sdn, _ = SanctionsEntry.objects.get_or_create(
        reference="SDN-18842",
        defaults={"list_name": "OFAC SDN", "name": "Viktor PETROV", "country": "RU", "date_of_birth": date(1968, 11, 2),
                  "program": "RUSSIA-EO14024"},
    )  # fmt: skip
    alert, created = Alert.objects.get_or_create(
        tenant=tenant, number=5013,
        defaults={"team": team, "type": AlertType.SANCTIONS, "customer": viktor, "score": 88,
                  "summary": "Name and date of birth match against OFAC SDN", "created_at": now - timedelta(hours=20)},
    )  # fmt: skip
    if created:
        SanctionsMatch.objects.create(alert=alert, entry=sdn, score=91)
    Alert.objects.get_or_create(
        tenant=tenant, number=5014,
        defaults={"team": team, "type": AlertType.CUSTOMER_RISK, "customer": aisha, "score": 75, "assignee": raj,
                  "status": AlertStatus.IN_REVIEW, "summary": "PEP association found in screening refresh",
                  "created_at": now - timedelta(days=4)},
    )  # fmt: skip


def _generated(rng: random.Random, count: int, tenant, team, now) -> int:
    if Alert.objects.filter(tenant=tenant, number__gte=GENERATED_FROM).exists():
        return 0
    entries = [
        SanctionsEntry(
            list_name=rng.choice(["OFAC SDN", "UN Consolidated", "EU Financial Sanctions", "UK HMT"]),
            reference=f"SAN-{30000 + i}", name=f"{rng.choice(FIRST)} {rng.choice(LAST).upper()}",
            country=rng.choice(COUNTRIES), program=rng.choice(["SDGT", "IRAN", "RUSSIA-EO14024", "DPRK"]),
        )
        for i in range(40)
    ]  # fmt: skip
    SanctionsEntry.objects.bulk_create(entries, ignore_conflicts=True)
    entries = list(SanctionsEntry.objects.filter(reference__startswith="SAN-"))
    customers = Customer.objects.bulk_create(
        [
            Customer(
                tenant=tenant, reference=f"CUS-{20000 + i}", name=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                country=rng.choice(COUNTRIES), risk_rating=rng.choice(list(RiskRating)),
                onboarded_at=date(2019, 1, 1) + timedelta(days=rng.randint(0, 2000)),
            )
            for i in range(count // 2)
        ]
    )  # fmt: skip
    customers = list(Customer.objects.filter(tenant=tenant, reference__startswith="CUS-2"))
    transactions = [
        Transaction(
            tenant=tenant, customer=customer, reference=f"TX-{700000 + i * 10 + j}", direction=rng.choice(["in", "out"]),
            amount=Decimal(rng.randint(100, 60000)), currency=rng.choice(["AED", "USD", "GBP"]),
            counterparty=rng.choice(COUNTERPARTIES), counterparty_country=rng.choice(COUNTRIES),
            created_at=now - timedelta(days=rng.randint(0, 120), hours=rng.randint(0, 23)),
        )
        for i, customer in enumerate(customers)
        for j in range(rng.randint(3, 8))
    ]  # fmt: skip
    Transaction.objects.bulk_create(transactions, batch_size=1000)
    analysts = list(User.objects.filter(username__in=["raj", "nina"]))
    alerts = []
    for i in range(count):
        kind = rng.choice(list(AlertType))
        status = rng.choices(list(AlertStatus), weights=[20, 10, 3, 12, 55])[0]
        created = now - timedelta(days=rng.randint(0, 60), hours=rng.randint(0, 23))
        closed = min(created + timedelta(days=2), now) if status == AlertStatus.CLOSED else None
        alerts.append(
            Alert(
                tenant=tenant, team=team, number=GENERATED_FROM + i, type=kind, status=status,
                customer=rng.choice(customers), score=rng.randint(15, 85), summary=rng.choice(SUMMARIES[kind]),
                assignee=None if status == AlertStatus.NEW else rng.choice(analysts),
                created_at=created, closed_at=closed,
            )
        )  # fmt: skip
    Alert.objects.bulk_create(alerts, batch_size=500)
    matches = [
        SanctionsMatch(alert=alert, entry=rng.choice(entries), score=rng.randint(60, 90),
                       status=SanctionsMatch.Status.PENDING if alert.status != AlertStatus.CLOSED else SanctionsMatch.Status.DISMISSED)
        for alert in Alert.objects.filter(tenant=tenant, number__gte=GENERATED_FROM, type=AlertType.SANCTIONS)
    ]  # fmt: skip
    SanctionsMatch.objects.bulk_create(matches)
    return count


def fincrime_demo_seed(*, seed: int = 7, count: int = 300) -> int:
    now = timezone.now()
    team = Team.objects.get(tenant__slug="aspora-remit", slug="fincrime")
    _showcase(team.tenant, team, now)
    return 3 + _generated(random.Random(seed), count, team.tenant, team, now)
