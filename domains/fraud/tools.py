"""Fraud Guardian tools. Each reads the tenant from `ctx.deps.context` only; a rule or transaction
of another tenant is reported exactly like a missing one. Answers are short markdown: rules link
to their page, amounts carry their currency, before/after figures carry their change."""

import asyncio
import copy
import dataclasses
from decimal import Decimal
from typing import Annotated, Literal, get_args

from django.db import connections
from pydantic import WithJsonSchema
from pydantic_ai import FunctionToolset, RunContext
from pydantic_ai.tools import ToolDefinition

from domains.fraud.models import (
    FEATURE_WORDS,
    Feature,
    Label,
    Rule,
    condition_text,
    percent_text,
    quantity_text,
)
from domains.fraud.selectors import (
    ConditionCheck,
    rule_get_for_context,
    rule_list_for_context,
    rule_performance_for_context,
    transaction_explain_for_context,
)
from domains.fraud.simulation import Outcome, rule_simulate
from skills.deps import SkillDeps
from tenants.context import AskerContext

toolset = FunctionToolset[SkillDeps]()

# Order matters to a model that takes the first value it finds in the request, where rule names also
# hold feature words: "device age days" before "device age", and "amount" before "velocity"
# ("the amount threshold of velocity-burst").
FeatureName = Literal["device_age_days", "device_age", "country_risk", "amount", "velocity"]
_FEATURE_NAMES = list(get_args(FeatureName))
FEATURE_ALIASES = {"device_age": Feature.DEVICE_AGE_DAYS}


def _rule_link(rule: Rule) -> str:
    link = f"[{rule.name}]({rule.get_absolute_url()})"
    return link if rule.enabled else f"{link} (disabled)"


def _count_change(before: int, after: int) -> str:
    return f"{before:,} → {after:,} ({after - before:+,})"


def _rate_change(before: float | None, after: float | None) -> str:
    change = f" ({(after - before) * 100:+.1f} pts)" if before is not None and after is not None else ""
    return f"{percent_text(before)} → {percent_text(after)}{change}"


def _rule_names(context: AskerContext) -> list[str]:
    try:
        return list(rule_list_for_context(context=context).values_list("name", flat=True))
    finally:
        connections.close_all()  # an executor thread: give its connection back


async def _offer_rule_names(ctx: RunContext[SkillDeps], tool_def: ToolDefinition) -> ToolDefinition:
    """Offer the asker's own rule names as the `rule` enum, so a model picks a name that exists.

    Longest first, so "risky-country-velocity" is tried before a shorter name it contains.
    """
    names = await asyncio.get_running_loop().run_in_executor(None, _rule_names, ctx.deps.context)
    if not names:
        return tool_def
    schema = copy.deepcopy(tool_def.parameters_json_schema)
    schema["properties"]["rule"]["enum"] = sorted(names, key=lambda s: (-len(s), s))
    return dataclasses.replace(tool_def, parameters_json_schema=schema)


@toolset.tool(prepare=_offer_rule_names)
def simulate_rule_change(
    ctx: RunContext[SkillDeps],
    rule: str,
    new_threshold: float,
    # Optional without advertising null, so a model names a feature or leaves it out.
    feature: Annotated[FeatureName | None, WithJsonSchema({"type": "string", "enum": _FEATURE_NAMES})] = None,
    stated_current_threshold: Annotated[float | None, WithJsonSchema({"type": "number"})] = None,
) -> dict:
    """Simulate moving one threshold of a fraud rule over the labelled history: alerts, caught fraud,
    false positives, precision and recall, before and after, with the change.

    Args:
        rule: the rule's name, e.g. velocity-burst.
        new_threshold: the threshold to try, e.g. 7.
        feature: the feature whose threshold changes: velocity, amount, country_risk or device_age_days;
            needed only when the rule tests more than one.
        stated_current_threshold: the threshold the asker says the rule has now ("from 5 to 7": 5), if they say.
    """
    found = rule_get_for_context(context=ctx.deps.context, rule=rule)
    if found is None:
        return {"error": f"There is no rule {rule!r} among your fraud rules."}
    conditions = {c.feature: c for c in found.conditions.all()}
    if feature is None:
        if len(conditions) != 1:
            tested = " and ".join(FEATURE_WORDS[f] for f in conditions)
            return {"error": f"{found.name} tests {tested}: say which threshold should change."}
        [feature] = conditions
    feature = FEATURE_ALIASES.get(feature, feature)
    if feature not in conditions:
        tested = "; ".join(c.text for c in conditions.values())
        return {"error": f"{found.name} has no {FEATURE_WORDS[feature]} condition; it fires when {tested}."}
    current, currency = conditions[feature].threshold, found.currency
    new = Decimal(str(new_threshold))
    stated = None if stated_current_threshold is None else Decimal(str(stated_current_threshold))
    if not new.is_finite() or (stated is not None and not stated.is_finite()):
        return {"error": "The thresholds must be finite numbers."}
    if stated is not None and stated != current:
        if new != current:
            said = quantity_text(feature, stated, currency)
            return {
                "error": f"The {FEATURE_WORDS[feature]} threshold of {found.name} is "
                f"{quantity_text(feature, current, currency)}, not {said}: which threshold should I try?"
            }
        # "from 5 to 7" with 5 the rule's threshold: 7 is the one to try, in whichever order they came.
        new, stated = stated, new

    simulation = rule_simulate(rule=found, feature=feature, threshold=new)
    before, after = simulation.before, simulation.after
    answer = {
        "rule": _rule_link(found),
        "change": (
            f"{condition_text(feature=feature, operator=simulation.operator, threshold=current, currency=currency)}"
            f" → {condition_text(feature=feature, operator=simulation.operator, threshold=new, currency=currency)}"
        ),
        "alerts": _count_change(before.alerts, after.alerts),
        "caught_fraud": _count_change(before.caught, after.caught),
        "false_positives": _count_change(before.false_positives, after.false_positives),
        "precision": _rate_change(before.precision, after.precision),
        "recall": _rate_change(before.recall, after.recall),
        "history": f"{simulation.transactions:,} transactions, {before.total_fraud:,} confirmed fraud",
    }
    if new == current:
        answer["note"] = "That is the rule's current threshold: nothing changes."
    return answer


def _performance_row(rule: Rule, outcome: Outcome) -> dict:
    return {
        "rule": _rule_link(rule),
        "fires_when": " and ".join(c.text for c in rule.conditions.all()),
        "alerts": f"{outcome.alerts:,}",
        "caught_fraud": f"{outcome.caught:,}",
        "false_positives": f"{outcome.false_positives:,}",
        "precision": percent_text(outcome.precision),
        "recall": percent_text(outcome.recall),
    }


@toolset.tool
def rule_performance(ctx: RunContext[SkillDeps]) -> list[dict]:
    """How each fraud rule performs over the labelled history: alerts, caught fraud, false positives,
    precision and recall, the rules with the most alerts first."""
    performances, _ = rule_performance_for_context(context=ctx.deps.context)
    ordered = sorted(performances, key=lambda p: (-p.outcome.alerts, p.rule.name))
    return [_performance_row(p.rule, p.outcome) for p in ordered]


def _check_text(check: ConditionCheck, currency: str) -> str:
    value = quantity_text(check.feature, check.value, currency)
    threshold = quantity_text(check.feature, check.threshold, currency)
    if check.margin == 0:
        how = "right at the threshold"
    else:
        how = ("over" if check.operator in (">", ">=") else "under") + " by "
        how += quantity_text(check.feature, check.margin, currency)
    return f"{FEATURE_WORDS[check.feature]} {value} {check.operator} {threshold}, {how}"


def _features_text(row, currency: str) -> str:
    return ", ".join(f"{FEATURE_WORDS[f]} {quantity_text(f, getattr(row, f), currency)}" for f in Feature.values)


@toolset.tool
def explain_transaction(ctx: RunContext[SkillDeps], transaction_id: int) -> dict:
    """Explain why a transaction was flagged: which rules fired on it, how far past each threshold it was,
    and what the legitimate transactions the same rules flag look like.

    Args:
        transaction_id: the transaction's id, e.g. 18342.
    """
    explanation = transaction_explain_for_context(context=ctx.deps.context, transaction_id=transaction_id)
    if explanation is None:
        return {"error": f"Transaction #{transaction_id} was not found in your tenant's history."}
    tx = explanation.transaction
    currency = tx.currency
    fraud = tx.label == Label.FRAUD
    answer = {
        "transaction": (
            f"#{tx.pk} · {quantity_text('amount', tx.amount, currency)} · {tx.occurred_at:%d %b %Y %H:%M} UTC"
            f" · confirmed {tx.get_label_display().lower()}"
        ),
        "features": _features_text(tx, currency),
    }
    fired = explanation.fired
    if not fired:
        answer["verdict"] = "No enabled rule fires on it, so it raised no alert."
        return answer
    count = f"{len(fired)} rule{'s' if len(fired) > 1 else ''}"
    answer["verdict"] = (
        f"Not a false positive: confirmed fraud, caught by {count}."
        if fraud
        else f"A false positive: {count} fired on a transaction confirmed legitimate."
    )
    answer["fired"] = {_rule_link(rule): "; ".join(_check_text(c, currency) for c in checks) for rule, checks in fired}
    similar = explanation.similar
    if similar["count"]:
        averages = ", ".join(
            f"{FEATURE_WORDS[f]} "
            + (
                quantity_text(f, Decimal(f"{similar[f'avg_{f}']:.2f}"), currency)
                if f == Feature.AMOUNT
                else f"{similar[f'avg_{f}']:,.1f}" + (" days" if f == Feature.DEVICE_AGE_DAYS else "")
            )
            for f in Feature.values
        )
        answer["similar_legitimate"] = (
            f"{similar['count']:,} other legitimate transactions fire the same rules; on average {averages}."
        )
        answer["closest"] = "; ".join(f"#{row.pk}: {_features_text(row, currency)}" for row in explanation.closest)
    else:
        answer["similar_legitimate"] = "No other legitimate transaction fires the same rules."
    return answer
