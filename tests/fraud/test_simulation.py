"""Simulation figures against two references: a direct SQL count and a plain Python count."""

import operator
from decimal import Decimal

import pytest

from domains.fraud.models import Label, Rule, Transaction
from domains.fraud.services import RuleInvalidError, rule_create, transaction_label_set
from domains.fraud.simulation import Outcome, outcomes_count, rule_simulate, rule_simulate_direct
from tenants.models import Tenant

COMPARE = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
FIELDS = ("amount", "velocity", "country_risk", "device_age_days", "label")


def _rows(tenant_slug: str = "aspora-remit") -> list[dict]:
    return list(Transaction.objects.filter(tenant__slug=tenant_slug).values(*FIELDS))


def _python_outcome(rows: list[dict], conditions) -> Outcome:
    fired = [r for r in rows if all(COMPARE[o](Decimal(r[f]), Decimal(str(t))) for f, o, t in conditions)]
    caught = sum(1 for r in fired if r["label"] == Label.FRAUD)
    total_fraud = sum(1 for r in rows if r["label"] == Label.FRAUD)
    return Outcome(caught=caught, false_positives=len(fired) - caught, total_fraud=total_fraud)


def _rule(name: str) -> Rule:
    return Rule.objects.get(tenant__slug="aspora-remit", name=name)


def _with(conditions, feature, threshold):
    return [(f, o, threshold if f == feature else t) for f, o, t in conditions]


def _conditions(rule: Rule):
    return [(c.feature, c.operator, c.threshold) for c in rule.conditions.all()]


@pytest.mark.parametrize(
    ("rule_name", "feature", "thresholds"),
    [
        ("velocity-burst", "velocity", [0, 3, 5, 6, 7, 9, 12, 40]),
        ("high-amount-new-device", "amount", [500, 1999, 2000, 2001, 3000, 10000]),
        ("high-amount-new-device", "device_age_days", [1, 3, 7, 30, 400]),
        ("risky-country-velocity", "country_risk", [1, 5, 8, 9, 10, 11]),
        ("risky-country-velocity", "velocity", [1, 3, 4, 8]),
        ("large-transfer", "amount", [2000, 9999, 10000, 10001, 60000]),
    ],
)
def test_a_what_if_equals_a_direct_sql_count_and_a_python_count(history, rule_name, feature, thresholds):
    rule = _rule(rule_name)
    rows = _rows()

    for threshold in thresholds:
        simulated = rule_simulate(rule=rule, feature=feature, threshold=Decimal(threshold))
        direct = rule_simulate_direct(rule=rule, feature=feature, threshold=Decimal(threshold))

        expected = _python_outcome(rows, _with(_conditions(rule), feature, threshold))
        assert (simulated.after, direct.after) == (expected, expected), threshold
        assert simulated.before == direct.before == _python_outcome(rows, _conditions(rule))
        assert simulated.transactions == direct.transactions == 3_000


def test_the_first_what_if_builds_the_histogram_and_later_ones_reuse_it(history):
    rule = _rule("velocity-burst")

    paths = [rule_simulate(rule=rule, feature="velocity", threshold=Decimal(t)).path for t in (7, 8, 4)]

    assert paths == ["histogram", "cache", "cache"]


@pytest.mark.parametrize("operator_", [">", ">=", "<", "<="])
def test_every_operator_agrees_with_the_direct_count_on_amounts_and_whole_features(history, operator_):
    tenant = Tenant.objects.get(slug="aspora-remit")
    rule = rule_create(
        tenant=tenant,
        name=f"probe-{len(operator_)}{'g' if '>' in operator_ else 'l'}",
        conditions=[("amount", operator_, 1500), ("device_age_days", operator_, 200), ("velocity", ">=", 1)],
    )
    rows = _rows()

    for feature, thresholds in (("amount", [0, 250, 1500, 1501, 4000]), ("device_age_days", [0, 3, 200, 900])):
        for threshold in thresholds:
            simulated = rule_simulate(rule=rule, feature=feature, threshold=Decimal(threshold))
            direct = rule_simulate_direct(rule=rule, feature=feature, threshold=Decimal(threshold))

            expected = _python_outcome(rows, _with(_conditions(rule), feature, threshold))
            assert simulated.after == direct.after == expected, (feature, threshold)


def test_fractional_thresholds_are_exact_on_amounts_and_whole_number_features(history):
    rule = _rule("high-amount-new-device")
    rows = _rows()

    amount = rule_simulate(rule=rule, feature="amount", threshold=Decimal("2500.50"))
    device = rule_simulate(rule=rule, feature="device_age_days", threshold=Decimal("2.5"))

    assert amount.path == "direct"
    assert amount.after == _python_outcome(rows, [("amount", ">", "2500.50"), ("device_age_days", "<", 3)])
    assert device.after == _python_outcome(rows, [("amount", ">", 2000), ("device_age_days", "<", "2.5")])
    assert device.after == rule_simulate_direct(rule=rule, feature="device_age_days", threshold=Decimal(3)).after


def test_a_fractional_threshold_on_a_whole_number_feature_is_not_truncated(history):
    rule = _rule("risky-country-velocity")  # country_risk >= 8 and velocity >= 3

    half = rule_simulate_direct(rule=rule, feature="velocity", threshold=Decimal("2.5"))

    assert half.after == _python_outcome(_rows(), [("country_risk", ">=", 8), ("velocity", ">=", "2.5")])
    assert half.after == half.before  # velocity >= 2.5 is velocity >= 3, not velocity >= 2
    assert half.after != rule_simulate_direct(rule=rule, feature="velocity", threshold=Decimal(2)).after


def test_a_relabelled_transaction_is_counted_at_once_even_after_caching(history):
    rule = _rule("velocity-burst")
    before = rule_simulate(rule=rule, feature="velocity", threshold=Decimal(6))
    flagged_legit = Transaction.objects.filter(tenant=rule.tenant, velocity__gt=6, label=Label.LEGITIMATE).first()

    transaction_label_set(transaction=flagged_legit, label=Label.FRAUD)
    after = rule_simulate(rule=rule, feature="velocity", threshold=Decimal(6))

    assert after.path == "histogram"
    assert (after.after.caught, after.after.false_positives) == (
        before.after.caught + 1,
        before.after.false_positives - 1,
    )
    assert after.after.total_fraud == before.after.total_fraud + 1


def test_a_new_transaction_is_counted_at_once(history):
    rule = _rule("velocity-burst")
    before = rule_simulate(rule=rule, feature="velocity", threshold=Decimal(5))
    Transaction.objects.create(
        tenant=rule.tenant,
        amount=Decimal("120.00"),
        velocity=9,
        country_risk=2,
        device_age_days=800,
        label=Label.LEGITIMATE,
        occurred_at=Transaction.objects.first().occurred_at,
    )

    after = rule_simulate(rule=rule, feature="velocity", threshold=Decimal(5))

    assert after.after.false_positives == before.after.false_positives + 1
    assert after.transactions == before.transactions + 1


def test_counts_never_include_another_tenants_history(history):
    northwind = Tenant.objects.get(slug="northwind")
    remit_rule = _rule("velocity-burst")
    northwind_rule = Rule.objects.get(tenant=northwind, name="velocity-burst")

    remit = rule_simulate(rule=remit_rule, feature="velocity", threshold=Decimal(3))
    theirs = rule_simulate(rule=northwind_rule, feature="velocity", threshold=Decimal(3))

    assert remit.transactions == 3_000
    assert theirs.transactions == 40
    assert theirs.after == _python_outcome(_rows("northwind"), [("velocity", ">", 3)])


def test_rule_performance_is_one_query_with_every_rules_outcome(history, django_assert_num_queries):
    rules = list(Rule.objects.filter(tenant__slug="aspora-remit").prefetch_related("conditions"))
    rows = _rows()

    with django_assert_num_queries(1):
        outcomes, transactions = outcomes_count(
            tenant_id=rules[0].tenant_id, rules={rule.name: _conditions(rule) for rule in rules}
        )

    assert transactions == 3_000
    assert outcomes == {rule.name: _python_outcome(rows, _conditions(rule)) for rule in rules}
    assert all(outcome.alerts > 0 for outcome in outcomes.values())


def test_a_rule_needs_conditions_each_on_its_own_feature_with_whole_thresholds_for_counts(history):
    tenant = Tenant.objects.get(slug="aspora-remit")

    with pytest.raises(RuleInvalidError) as empty:
        rule_create(tenant=tenant, name="empty", conditions=[])
    with pytest.raises(RuleInvalidError) as twice:
        rule_create(tenant=tenant, name="range", conditions=[("amount", ">", 10), ("amount", "<", 20)])
    with pytest.raises(RuleInvalidError) as fraction:
        rule_create(tenant=tenant, name="half", conditions=[("velocity", ">", "2.5")])

    assert empty.value.message == "Rule empty needs at least one condition; with none it would fire on everything."
    assert twice.value.message == "Rule range tests a feature twice; give each feature one condition."
    assert fraction.value.message == "Rule half: velocity is a whole number; use a whole-number threshold."
    assert not Rule.objects.filter(name__in=["empty", "range", "half"]).exists()
