"""Fraud Guardian reads, scoped to the asker's tenant: another tenant's rule or transaction looks
exactly like a missing one. The counting itself is in `simulation.py`."""

import re
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import QuerySet

from domains.fraud.models import Rule, Transaction
from domains.fraud.simulation import (
    Outcome,
    condition_holds,
    outcomes_count,
    rule_conditions,
    rule_with_data_version,
    similar_legitimate,
)
from tenants.context import AskerContext
from tenants.models import Tenant, User

_RULE_ID = re.compile(r"^#?(\d+)$")


def _rules(tenant: Tenant | int | None) -> QuerySet[Rule]:
    if tenant is None:
        return Rule.objects.none()
    return Rule.objects.filter(tenant=tenant).prefetch_related("conditions")


def rule_name_normalize(name: str) -> str:
    """`Velocity_Burst`, `velocity burst` and `velocity-burst` all name the rule velocity-burst."""
    return re.sub(r"[\s_]+", "-", name.strip().strip("`'\"").lower())


def rule_list_for_context(*, context: AskerContext) -> QuerySet[Rule]:
    return _rules(context.tenant)


def rule_get_for_context(*, context: AskerContext, rule: str | int) -> Rule | None:
    """A rule of the asker's tenant by name or id, with its conditions and the data version, or None."""
    match = _RULE_ID.match(str(rule).strip())
    if match:
        return rule_with_data_version(tenant_id=context.tenant.pk, rule_id=int(match.group(1)))
    return rule_with_data_version(tenant_id=context.tenant.pk, name=rule_name_normalize(str(rule)))


def rule_get_for_user(*, user: User, rule_id: int) -> Rule | None:
    return _rules(user.tenant_id).filter(pk=rule_id).first()


def transaction_get_for_context(*, context: AskerContext, transaction_id: int) -> Transaction | None:
    return Transaction.objects.filter(tenant=context.tenant, pk=transaction_id).first()


@dataclass(frozen=True)
class RulePerformance:
    rule: Rule
    outcome: Outcome


def rule_performance_list(*, rules: list[Rule]) -> tuple[list[RulePerformance], int]:
    """Each rule's outcome over its tenant's history (one query), and the history's size."""
    if not rules:
        return [], 0
    [tenant_id] = {rule.tenant_id for rule in rules}
    outcomes, transactions = outcomes_count(
        tenant_id=tenant_id, rules={str(rule.pk): rule_conditions(rule) for rule in rules}
    )
    return [RulePerformance(rule, outcomes[str(rule.pk)]) for rule in rules], transactions


def rule_performance_for_context(*, context: AskerContext) -> tuple[list[RulePerformance], int]:
    return rule_performance_list(rules=list(rule_list_for_context(context=context)))


@dataclass(frozen=True)
class ConditionCheck:
    feature: str
    operator: str
    threshold: Decimal
    value: Decimal
    holds: bool

    @property
    def margin(self) -> Decimal:
        """How far past the threshold the value is, in the direction the operator tests."""
        return self.value - self.threshold if self.operator in (">", ">=") else self.threshold - self.value


@dataclass(frozen=True)
class Explanation:
    transaction: Transaction
    fired: list[tuple[Rule, list[ConditionCheck]]]
    similar: dict
    closest: list[Transaction]


def transaction_explain_for_context(*, context: AskerContext, transaction_id: int) -> Explanation | None:
    """Which enabled rules fire on the transaction and by how much, and the legitimate ones like it."""
    transaction = transaction_get_for_context(context=context, transaction_id=transaction_id)
    if transaction is None:
        return None
    fired = []
    for rule in rule_list_for_context(context=context).filter(enabled=True):
        checks = [
            ConditionCheck(f, o, t, Decimal(getattr(transaction, f)), condition_holds(getattr(transaction, f), o, t))
            for f, o, t in rule_conditions(rule)
        ]
        if checks and all(check.holds for check in checks):
            fired.append((rule, checks))
    similar, closest = {}, []
    if fired:
        similar, closest = similar_legitimate(transaction=transaction, rules=[rule for rule, _ in fired])
    return Explanation(transaction=transaction, fired=fired, similar=similar, closest=closest)
