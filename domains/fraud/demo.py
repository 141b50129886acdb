"""Fraud Guardian demo data: Aspora Remit's rules and a labelled history, and a little of Northwind's.

The history is drawn from `random.Random(seed)`, so the same seed always gives the same features
and labels (timestamps are spread over the 90 days before seeding). About 2 % is confirmed fraud,
and fraud skews towards bursts of transactions, risky countries, new devices and larger amounts,
so the rules have a precision and recall worth tuning. Re-running adds only what is missing.
"""

import bisect
import math
import random
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import accumulate

from django.db import connection
from django.utils import timezone

from domains.fraud.models import Label, Rule, Transaction
from domains.fraud.services import rule_create
from tenants.models import Tenant

DEFAULT_COUNT = 20_000
LARGE_COUNT = 1_000_000
NORTHWIND_COUNT = 40
BATCH = 100_000
FRAUD_RATE = 0.02
HISTORY_DAYS = 90

# (name, description, conditions)
RULES = [
    ("velocity-burst", "Many transfers within an hour: the burst pattern of account takeover.", [("velocity", ">", 5)]),
    ("high-amount-new-device", "A large transfer from a device first seen days ago.", [("amount", ">", 2000), ("device_age_days", "<", 3)]),
    ("risky-country-velocity", "Repeated transfers to a high-risk destination.", [("country_risk", ">=", 8), ("velocity", ">=", 3)]),
    ("large-transfer", "Any single transfer of 10,000 AED or more.", [("amount", ">=", 10000)]),
]  # fmt: skip
NORTHWIND_RULES = [
    ("velocity-burst", "Northwind's own burst rule.", [("velocity", ">", 3)]),
    ("card-testing", "Many small card payments in an hour.", [("velocity", ">=", 10)]),
]  # fmt: skip

# Country risk 1..10: customers mostly send to low-risk corridors, fraud leans to the risky ones.
_LEGIT_RISK = list(accumulate([30, 22, 15, 10, 8, 6, 4, 3, 1.5, 0.5]))
_FRAUD_RISK = list(accumulate([2, 3, 4, 6, 8, 12, 16, 20, 16, 13]))


def _risk(rng: random.Random, cumulative: list[float]) -> int:
    return min(10, bisect.bisect(cumulative, rng.random() * cumulative[-1]) + 1)


def transactions_generate(*, seed: int, count: int) -> Iterator[tuple[Decimal, int, int, int, str, int]]:
    """(amount, velocity, country_risk, device_age_days, label, seconds before the end) per row."""
    rng = random.Random(seed)
    for _ in range(count):
        fraud = rng.random() < FRAUD_RATE
        if fraud:
            amount = rng.lognormvariate(math.log(1400), 1.0)
            velocity = int(rng.expovariate(1 / 4.5)) + 1
            country_risk = _risk(rng, _FRAUD_RISK)
            new_device = rng.random() < 0.6
            device_age = rng.randrange(0, 7) if new_device else 7 + int(rng.expovariate(1 / 200))
        else:
            amount = rng.lognormvariate(math.log(400), 1.0)
            velocity = int(rng.expovariate(1 / 1.2))
            country_risk = _risk(rng, _LEGIT_RISK)
            new_device = rng.random() < 0.06
            device_age = rng.randrange(0, 7) if new_device else 7 + int(rng.expovariate(1 / 500))
        amount = Decimal(f"{min(50_000.0, max(5.0, amount)):.2f}")
        seconds_ago = rng.randrange(HISTORY_DAYS * 86_400)
        label = Label.FRAUD.value if fraud else Label.LEGITIMATE.value
        yield amount, velocity, country_risk, min(device_age, 3650), label, seconds_ago


def _rules_seed(tenant: Tenant, rules, currency: str) -> int:
    created = 0
    for name, description, conditions in rules:
        if not Rule.objects.filter(tenant=tenant, name=name).exists():
            rule_create(tenant=tenant, name=name, description=description, conditions=conditions, currency=currency)
            created += 1
    return created


_COLUMNS = ("tenant_id", "amount", "currency", "velocity", "country_risk", "device_age_days", "label", "occurred_at")


def _rows(tenant: Tenant, currency: str, seed: int, count: int, skip: int, end: datetime) -> Iterator[tuple]:
    for index, (amount, velocity, risk, device_age, label, ago) in enumerate(
        transactions_generate(seed=seed, count=count)
    ):
        if index >= skip:
            yield (tenant.pk, amount, currency, velocity, risk, device_age, label, end - timedelta(seconds=ago))


def _batches(rows: Iterator[tuple], size: int) -> Iterator[list[tuple]]:
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _insert(batch: list[tuple], now: datetime) -> None:
    if connection.vendor == "postgresql":
        # COPY is an order of magnitude faster than INSERTs for a million rows.
        columns = ", ".join((*_COLUMNS, "updated_at"))
        with connection.cursor() as cursor, cursor.copy(f"COPY fraud_transaction ({columns}) FROM STDIN") as copy:
            for row in batch:
                copy.write_row((*row, now))
    else:
        Transaction.objects.bulk_create(
            [Transaction(**dict(zip(_COLUMNS, row, strict=True))) for row in batch], batch_size=2_000
        )


def _history_seed(
    tenant: Tenant, *, seed: int, count: int, currency: str, log: Callable[[str], None], batch_size: int = BATCH
) -> int:
    existing = Transaction.objects.filter(tenant=tenant).count()
    if existing >= count:
        log(f"{tenant.slug}: {existing:,} transactions already there")
        return 0
    now = timezone.now()
    end = now.replace(minute=0, second=0, microsecond=0)
    done = 0
    for batch in _batches(_rows(tenant, currency, seed, count, existing, end), batch_size):
        _insert(batch, now)
        done += len(batch)
        log(f"{tenant.slug}: {existing + done:,} of {count:,} transactions")
    if connection.vendor == "postgresql" and done > 10_000:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE fraud_transaction")
    return done


def fraud_demo_seed(
    *, seed: int = 7, large: bool = False, count: int | None = None, log: Callable[[str], None] = lambda line: None
) -> int:
    """Seed the demo rules and history; returns how many transactions were added.

    `count` overrides the size of Aspora Remit's history (20,000, or 1,000,000 with `large`).
    """
    remit = Tenant.objects.get(slug="aspora-remit")
    northwind = Tenant.objects.get(slug="northwind")
    _rules_seed(remit, RULES, "AED")
    _rules_seed(northwind, NORTHWIND_RULES, "EUR")
    target = count if count is not None else (LARGE_COUNT if large else DEFAULT_COUNT)
    added = _history_seed(remit, seed=seed, count=target, currency="AED", log=log)
    added += _history_seed(northwind, seed=seed + 1, count=NORTHWIND_COUNT, currency="EUR", log=log)
    return added
