"""The demo history: deterministic, realistic, tenant-scoped and safe to seed twice."""

from domains.fraud.demo import fraud_demo_seed, transactions_generate
from domains.fraud.models import Label, Rule, Transaction


def test_the_same_seed_gives_the_same_history():
    first = list(transactions_generate(seed=7, count=500))

    assert first == list(transactions_generate(seed=7, count=500))
    assert first != list(transactions_generate(seed=8, count=500))
    assert [row[:5] for row in first[:2]] == [row[:5] for row in transactions_generate(seed=7, count=2)]


def test_the_history_is_about_two_percent_fraud_and_fraud_looks_different():
    rows = list(transactions_generate(seed=7, count=20_000))
    fraud = [row for row in rows if row[4] == Label.FRAUD]
    legit = [row for row in rows if row[4] == Label.LEGITIMATE]

    assert 0.01 <= len(fraud) / len(rows) <= 0.03
    assert sum(row[1] for row in fraud) / len(fraud) > 3 * sum(row[1] for row in legit) / len(legit)
    assert all(1 <= row[2] <= 10 for row in rows)


def test_seeding_again_adds_nothing_and_a_bigger_count_only_adds_the_rest(history):
    log = []

    again = fraud_demo_seed(seed=7, count=3_000, log=log.append)
    more = fraud_demo_seed(seed=7, count=3_500, log=log.append)

    assert again == 0
    assert more == 500
    assert Transaction.objects.filter(tenant__slug="aspora-remit").count() == 3_500
    assert Transaction.objects.filter(tenant__slug="northwind").count() == 40
    assert log == [
        "aspora-remit: 3,000 transactions already there",
        "northwind: 40 transactions already there",
        "aspora-remit: 3,500 of 3,500 transactions",
        "northwind: 40 transactions already there",
    ]
    assert list(Rule.objects.filter(tenant__slug="aspora-remit").values_list("name", flat=True)) == [
        "high-amount-new-device",
        "large-transfer",
        "risky-country-velocity",
        "velocity-burst",
    ]
    expected = [row[:4] for row in transactions_generate(seed=7, count=3_500)]
    stored = Transaction.objects.filter(tenant__slug="aspora-remit").order_by("pk")
    assert [(t.amount, t.velocity, t.country_risk, t.device_age_days) for t in stored] == expected
