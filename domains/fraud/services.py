"""Fraud Guardian writes.

A rule and its conditions are created in one transaction. Transactions are history: they arrive
in bulk (see `demo.py`) and only their confirmed label changes afterwards, through
`transaction_label_set`, which bumps `updated_at` so cached simulations notice the change.
"""

from collections.abc import Sequence
from decimal import Decimal

from django.db import transaction as db_transaction

from aspora.errors import ApplicationError
from domains.fraud.models import INTEGER_FEATURES, Condition, Feature, Label, Operator, Rule, Transaction
from tenants.models import Tenant


class RuleInvalidError(ApplicationError):
    status_code = 400


class LabelInvalidError(ApplicationError):
    status_code = 400


@db_transaction.atomic
def rule_create(
    *,
    tenant: Tenant,
    name: str,
    conditions: Sequence[tuple[str, str, Decimal | int | str]],
    description: str = "",
    enabled: bool = True,
    currency: str = "AED",
) -> Rule:
    if not conditions:
        raise RuleInvalidError(f"Rule {name} needs at least one condition; with none it would fire on everything.")
    features = [feature for feature, _, _ in conditions]
    if len(set(features)) != len(features):
        raise RuleInvalidError(f"Rule {name} tests a feature twice; give each feature one condition.")
    rows = []
    for feature, operator, threshold in conditions:
        if feature not in Feature.values or operator not in Operator.values:
            raise RuleInvalidError(f"Rule {name}: {feature} {operator} is not a known feature and operator.")
        threshold = Decimal(str(threshold))
        if feature in INTEGER_FEATURES and threshold != threshold.to_integral_value():
            raise RuleInvalidError(f"Rule {name}: {feature} is a whole number; use a whole-number threshold.")
        rows.append(Condition(feature=feature, operator=operator, threshold=threshold))
    rule = Rule.objects.create(tenant=tenant, name=name, description=description, enabled=enabled, currency=currency)
    for row in rows:
        row.rule = rule
    Condition.objects.bulk_create(rows)
    return rule


def transaction_label_set(*, transaction: Transaction, label: str) -> Transaction:
    if label not in Label.values:
        raise LabelInvalidError(f"{label!r} is not a label; use fraud or legitimate.")
    transaction.label = label
    transaction.save(update_fields=["label", "updated_at"])
    return transaction
