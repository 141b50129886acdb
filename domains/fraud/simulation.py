"""What a rule catches over the labelled history, counted in the database.

Invariants:
- Every query filters on the tenant of the rule it is given; callers get rules from the scoped
  selectors, so a count never mixes tenants.
- Counting happens in SQL (conditional aggregates), never in a Python loop over rows.
- A what-if on one condition of a rule first runs one GROUP BY over that condition's feature (for
  amounts, over the database-kept `amount_ceil` or `amount_floor`, which keep whole-number
  thresholds exact for the operator): per value, the fraud and legitimate rows that satisfy the
  rule's other conditions. That small histogram is cached per process, keyed by tenant, rule,
  column and the other conditions, and tagged with the tenant's data version (max id and max
  updated_at, both read from an index); further thresholds are answered by prefix sums over it.
  Inserts and label changes show at once; a deleted row is forgotten after `CACHE_TTL_SECONDS`.
- The rule, its conditions and that version come back in one round trip (`rule_with_data_version`),
  so a warm what-if costs one indexed query plus arithmetic.
- Amount thresholds that are not whole numbers fall back to one direct aggregate query.
"""

import hashlib
import operator as op
import threading
import time
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import accumulate
from math import ceil, floor

from django.db import connection
from django.db.models import Avg, Count, F, FloatField, Max, Q
from django.db.models.functions import Abs, Cast

from domains.fraud.models import INTEGER_FEATURES, Condition, Feature, Label, Operator, Rule, Transaction

CACHE_SIZE = 128
CACHE_TTL_SECONDS = 300

FRAUD = Q(label=Label.FRAUD)
LEGITIMATE = Q(label=Label.LEGITIMATE)
COMPARE = {Operator.GT: op.gt, Operator.GTE: op.ge, Operator.LT: op.lt, Operator.LTE: op.le}
_LOOKUP = {Operator.GT: "gt", Operator.GTE: "gte", Operator.LT: "lt", Operator.LTE: "lte"}

ConditionSpec = tuple[str, str, Decimal]  # (feature, operator, threshold)
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Outcome:
    """What a rule does over the history: the fraud it alerts on and the legitimate rows it flags."""

    caught: int
    false_positives: int
    total_fraud: int

    @property
    def alerts(self) -> int:
        return self.caught + self.false_positives

    @property
    def precision(self) -> float | None:
        return self.caught / self.alerts if self.alerts else None

    @property
    def recall(self) -> float | None:
        return self.caught / self.total_fraud if self.total_fraud else None


@dataclass(frozen=True)
class Simulation:
    rule: Rule
    feature: str
    operator: str
    threshold_before: Decimal
    threshold_after: Decimal
    before: Outcome
    after: Outcome
    transactions: int
    path: str  # "histogram" (built now), "cache" (reused) or "direct"


def rule_conditions(rule: Rule) -> list[ConditionSpec]:
    return [(c.feature, c.operator, c.threshold) for c in rule.conditions.all()]


def condition_q(feature: str, operator: str, threshold: Decimal) -> Q:
    if feature in INTEGER_FEATURES and threshold != threshold.to_integral_value():
        # An integer column compared with 6.5: the ORM would truncate the value, so say it exactly.
        if operator in (Operator.GT, Operator.GTE):
            return Q(**{f"{feature}__gte": ceil(threshold)})
        return Q(**{f"{feature}__lte": floor(threshold)})
    return Q(**{f"{feature}__{_LOOKUP[operator]}": threshold})


def conditions_q(conditions: Iterable[ConditionSpec]) -> Q:
    q = Q()
    for feature, operator, threshold in conditions:
        q &= condition_q(feature, operator, threshold)
    return q


def condition_holds(value, operator: str, threshold: Decimal) -> bool:
    return COMPARE[operator](Decimal(value), threshold)


def _history(tenant_id: int):
    return Transaction.objects.filter(tenant_id=tenant_id).order_by()


def outcomes_count(*, tenant_id: int, rules: dict[str, Sequence[ConditionSpec]]) -> tuple[dict[str, Outcome], int]:
    """Outcome of each named set of conditions over the tenant's history, in one query."""
    aggregates = {"fraud": Count("pk", filter=FRAUD), "rows": Count("pk")}
    for index, conditions in enumerate(rules.values()):
        q = conditions_q(conditions)
        aggregates[f"c{index}"] = Count("pk", filter=q & FRAUD)
        aggregates[f"l{index}"] = Count("pk", filter=q & LEGITIMATE)
    row = _history(tenant_id).aggregate(**aggregates)
    outcomes = {
        key: Outcome(caught=row[f"c{index}"], false_positives=row[f"l{index}"], total_fraud=row["fraud"])
        for index, key in enumerate(rules)
    }
    return outcomes, row["rows"]


# --- what-ifs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Histogram:
    keys: list[int]
    fraud: list[int]  # prefix sums: fraud[i] = fraud rows with key < keys[i]
    legitimate: list[int]
    total_fraud: int
    transactions: int

    def outcome(self, operator: str, threshold: Decimal) -> Outcome:
        below_or_at = bisect_right(self.keys, threshold)
        below = bisect_left(self.keys, threshold)
        end = len(self.keys)
        lo, hi = {
            Operator.GT: (below_or_at, end),
            Operator.GTE: (below, end),
            Operator.LT: (0, below),
            Operator.LTE: (0, below_or_at),
        }[operator]
        return Outcome(
            caught=self.fraud[hi] - self.fraud[lo],
            false_positives=self.legitimate[hi] - self.legitimate[lo],
            total_fraud=self.total_fraud,
        )


_cache: OrderedDict[tuple, tuple[tuple, float, _Histogram]] = OrderedDict()
_cache_lock = threading.Lock()


def simulation_cache_clear() -> None:
    with _cache_lock:
        _cache.clear()


def data_version(tenant_id: int) -> tuple:
    """Changes whenever a row is added or relabelled; two index lookups, whatever the history's size."""
    row = _history(tenant_id).aggregate(last_id=Max("id"), last_change=Max("updated_at"))
    return row["last_id"], row["last_change"]


_RULE_WITH_VERSION = """
SELECT r.id, r.name, r.description, r.enabled, r.currency, c.id, c.feature, c.operator, c.threshold,
       v.last_id, v.last_change
FROM fraud_rule r
LEFT JOIN fraud_condition c ON c.rule_id = r.id
CROSS JOIN (SELECT MAX(id) AS last_id, MAX(updated_at) AS last_change
            FROM fraud_transaction WHERE tenant_id = %s) v
WHERE r.tenant_id = %s AND {match}
ORDER BY c.id
"""
_RULE_BY_ID = _RULE_WITH_VERSION.replace("{match}", "r.id = %s")
_RULE_BY_NAME = _RULE_WITH_VERSION.replace("{match}", "r.name = %s")


def rule_with_data_version(*, tenant_id: int, rule_id: int | None = None, name: str | None = None) -> Rule | None:
    """The tenant's rule (by id or name) with its conditions, and the tenant's data version, in one
    round trip: the what-if hot path, where three ORM queries would cost more than the arithmetic.

    The version is left on the rule as `data_version` for `rule_simulate`.
    """
    sql = _RULE_BY_ID if rule_id is not None else _RULE_BY_NAME
    with connection.cursor() as cursor:
        cursor.execute(sql, [tenant_id, tenant_id, rule_id if rule_id is not None else name])
        rows = cursor.fetchall()
    if not rows:
        return None
    first = rows[0]
    fields = ["id", "tenant_id", "name", "description", "enabled", "currency"]
    rule_id, name, description, enabled, currency = first[:5]
    rule = Rule.from_db(connection.alias, fields, [rule_id, tenant_id, name, description, bool(enabled), currency])
    found = []
    for row in rows:
        if row[5] is not None:
            condition = Condition.from_db(
                connection.alias,
                ["id", "rule_id", "feature", "operator", "threshold"],
                [row[5], rule.pk, row[6], row[7], Decimal(str(row[8])).quantize(CENT)],
            )
            condition.rule = rule
            found.append(condition)
    # What prefetch_related("conditions") would have left: `rule.conditions.all()` needs no query.
    cached = rule.conditions.all()
    cached._result_cache, cached._prefetch_done = found, True
    rule._prefetched_objects_cache = {"conditions": cached}
    rule.data_version = (first[9], first[10])
    return rule


def _bucket(feature: str, operator: str) -> str:
    """The column a what-if on `feature` groups on."""
    if feature in INTEGER_FEATURES:
        return feature
    # For a whole-number t: amount > t ⟺ ceil(amount) > t, and amount >= t ⟺ floor(amount) >= t.
    return "amount_ceil" if operator in (Operator.GT, Operator.LTE) else "amount_floor"


def _histogram_build(*, tenant_id: int, bucket: str, others: Sequence[ConditionSpec]) -> _Histogram:
    others_q = conditions_q(others)
    rows = (
        _history(tenant_id)
        .values(bucket)
        .annotate(
            fraud=Count("pk", filter=others_q & FRAUD),
            legitimate=Count("pk", filter=others_q & LEGITIMATE),
            all_fraud=Count("pk", filter=FRAUD),
            rows=Count("pk"),
        )
        .order_by()  # no ORDER BY: PostgreSQL then hashes the groups instead of sorting a million rows
    )
    keys, fraud, legitimate = [], [], []
    total_fraud = transactions = 0
    for row in sorted(rows, key=lambda row: row[bucket]):
        total_fraud += row["all_fraud"]
        transactions += row["rows"]
        if row["fraud"] or row["legitimate"]:
            keys.append(row[bucket])
            fraud.append(row["fraud"])
            legitimate.append(row["legitimate"])
    return _Histogram(
        keys=keys,
        fraud=[0, *accumulate(fraud)],
        legitimate=[0, *accumulate(legitimate)],
        total_fraud=total_fraud,
        transactions=transactions,
    )


def _histogram(*, rule: Rule, bucket: str, others: Sequence[ConditionSpec]) -> tuple[_Histogram, bool]:
    digest = hashlib.sha256(repr(sorted((f, o, str(t)) for f, o, t in others)).encode()).hexdigest()
    key = (rule.tenant_id, rule.pk, bucket, digest)
    version = getattr(rule, "data_version", None) or data_version(rule.tenant_id)
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None and hit[0] == version and now - hit[1] < CACHE_TTL_SECONDS:
            _cache.move_to_end(key)
            return hit[2], True
    histogram = _histogram_build(tenant_id=rule.tenant_id, bucket=bucket, others=others)
    with _cache_lock:
        _cache[key] = (version, now, histogram)
        _cache.move_to_end(key)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return histogram, False


def _split(rule: Rule, feature: str) -> tuple[ConditionSpec, list[ConditionSpec]]:
    conditions = rule_conditions(rule)
    mine = [c for c in conditions if c[0] == feature]
    if not mine:
        raise ValueError(f"{rule.name} has no {feature} condition")
    return mine[0], [c for c in conditions if c[0] != feature]


def rule_simulate_direct(*, rule: Rule, feature: str, threshold: Decimal) -> Simulation:
    """Before and after in one aggregate query with conditional counts: the reference path."""
    (_, operator, current), others = _split(rule, feature)
    outcomes, transactions = outcomes_count(
        tenant_id=rule.tenant_id,
        rules={"before": [*others, (feature, operator, current)], "after": [*others, (feature, operator, threshold)]},
    )
    return Simulation(
        rule, feature, operator, current, threshold, outcomes["before"], outcomes["after"], transactions, "direct"
    )


def rule_simulate(*, rule: Rule, feature: str, threshold: Decimal) -> Simulation:
    """The rule with `feature`'s threshold moved to `threshold`, against the rule as it is."""
    (_, operator, current), others = _split(rule, feature)
    whole = feature in INTEGER_FEATURES or all(t == t.to_integral_value() for t in (current, threshold))
    if not whole:
        return rule_simulate_direct(rule=rule, feature=feature, threshold=threshold)
    histogram, cached = _histogram(rule=rule, bucket=_bucket(feature, operator), others=others)
    return Simulation(
        rule,
        feature,
        operator,
        current,
        threshold,
        histogram.outcome(operator, current),
        histogram.outcome(operator, threshold),
        histogram.transactions,
        "cache" if cached else "histogram",
    )


# --- explanations ---------------------------------------------------------------------------


def similar_legitimate(
    *, transaction: Transaction, rules: Sequence[Rule], limit: int = 3
) -> tuple[dict, list[Transaction]]:
    """Legitimate transactions the same rules fire on: their count and averages, and the closest few."""
    q = Q()
    for rule in rules:
        q &= conditions_q(rule_conditions(rule))
    same = _history(transaction.tenant_id).filter(q & LEGITIMATE).exclude(pk=transaction.pk)
    summary = same.aggregate(
        count=Count("pk"),
        **{f"avg_{feature}": Avg(Cast(feature, FloatField())) for feature in Feature.values},
    )

    def gap(feature: str, scale: float):
        return Abs(Cast(F(feature), FloatField()) - float(getattr(transaction, feature))) / scale

    # Distance in "typical spreads": one velocity step ~ one country-risk step ~ 30 days ~ 500 in amount.
    distance = gap("velocity", 1.0) + gap("country_risk", 1.0) + gap("device_age_days", 30.0) + gap("amount", 500.0)
    closest = list(same.annotate(distance=distance).order_by("distance", "pk")[:limit])
    return summary, closest
