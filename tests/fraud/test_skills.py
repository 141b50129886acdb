"""The fraud skills end to end on the offline model: routing, tool calls, arguments and answers."""

from decimal import Decimal

import pytest

from domains.fraud.models import Label, Rule, Transaction
from domains.fraud.simulation import outcomes_count, rule_conditions, rule_simulate_direct
from skills.evals import skill_evals_run
from skills.models import RunStatus, SkillRun
from skills.offline import OFFLINE_LABEL
from skills.services import skill_run_start
from tests.skills.conftest import context_for


def _ask(message: str, username: str = "lena") -> SkillRun:
    run = skill_run_start(context=context_for(username), message=message)
    run.refresh_from_db()
    return run


def _tool_calls(run: SkillRun) -> list[tuple[str, dict]]:
    return [(e.data["name"], e.data["args"]) for e in run.events.filter(type="run.tool_call").order_by("seq")]


def _rule(name: str) -> Rule:
    return Rule.objects.get(tenant__slug="aspora-remit", name=name)


def _change(before: int, after: int) -> str:
    return f"{before:,} → {after:,} ({after - before:+,})"


def _rate(before: float, after: float) -> str:
    return f"{before:.1%} → {after:.1%} ({(after - before) * 100:+.1f} pts)"


@pytest.mark.parametrize(
    ("message", "args", "rule_name", "feature", "new"),
    [
        (
            "simulate raising the velocity threshold of velocity-burst to 7",
            {"rule": "velocity-burst", "new_threshold": 7.0, "feature": "velocity"},
            "velocity-burst",
            "velocity",
            7,
        ),
        (
            "what if the velocity threshold of velocity-burst goes from 5 to 7?",
            {"rule": "velocity-burst", "new_threshold": 5.0, "feature": "velocity", "stated_current_threshold": 7.0},
            "velocity-burst",
            "velocity",
            7,
        ),
        (
            "what if high-amount-new-device fires only above an amount of 3000?",
            {"rule": "high-amount-new-device", "new_threshold": 3000.0, "feature": "amount"},
            "high-amount-new-device",
            "amount",
            3000,
        ),
        (
            "what if risky-country-velocity needs a country risk of 9?",
            {"rule": "risky-country-velocity", "new_threshold": 9.0, "feature": "country_risk"},
            "risky-country-velocity",
            "country_risk",
            9,
        ),
    ],
)
def test_simulate_rule_change_examples_answer_with_before_after_and_deltas(
    fraud_world, message, args, rule_name, feature, new
):
    rule = _rule(rule_name)
    expected = rule_simulate_direct(rule=rule, feature=feature, threshold=Decimal(new))
    before, after = expected.before, expected.after

    run = _ask(message)

    assert (run.status, run.skill.name, run.routed) == (RunStatus.SUCCEEDED, "simulate-rule-change", True)
    assert _tool_calls(run) == [("simulate_rule_change", args)]
    lines = run.answer.splitlines()
    assert lines[0] == f"- **rule**: [{rule_name}](/fraud/rules/{rule.pk}/)"
    assert lines[2:7] == [
        f"- **alerts**: {_change(before.alerts, after.alerts)}",
        f"- **caught fraud**: {_change(before.caught, after.caught)}",
        f"- **false positives**: {_change(before.false_positives, after.false_positives)}",
        f"- **precision**: {_rate(before.precision, after.precision)}",
        f"- **recall**: {_rate(before.recall, after.recall)}",
    ]
    assert lines[7] == f"- **history**: 3,000 transactions, {before.total_fraud} confirmed fraud"
    assert run.answer.endswith(OFFLINE_LABEL)


def test_the_change_line_names_old_and_new_thresholds_with_units(fraud_world):
    amount = _ask("what if high-amount-new-device fires only above an amount of 3000?")
    velocity = _ask("what if the velocity threshold of velocity-burst goes from 5 to 7?")

    assert "- **change**: amount > 2,000.00 AED → amount > 3,000.00 AED" in amount.answer
    assert "- **change**: velocity > 5 → velocity > 7" in velocity.answer
    assert "note" not in velocity.answer


def test_a_what_if_from_a_threshold_the_rule_does_not_have_asks_which_to_try(fraud_world):
    run = _ask("what if the velocity threshold of velocity-burst goes from 6 to 7?")

    assert run.answer.startswith("The velocity threshold of velocity-burst is 5, not 7: which threshold should I try?")


def test_a_what_if_without_a_rule_asks_for_one_instead_of_guessing(fraud_world):
    run = _ask("simulate raising the velocity threshold to 7")

    assert run.skill.name == "simulate-rule-change"
    assert _tool_calls(run) == []
    assert run.answer.startswith("I need more to do that: the rule's name, e.g. velocity-burst.")


def test_a_what_if_on_a_feature_the_rule_does_not_test_says_what_it_tests(fraud_world):
    run = _ask("simulate the amount threshold of velocity-burst at 900")

    assert _tool_calls(run) == [
        ("simulate_rule_change", {"rule": "velocity-burst", "new_threshold": 900.0, "feature": "amount"})
    ]
    assert run.answer.startswith("velocity-burst has no amount condition; it fires when velocity > 5.")


@pytest.mark.parametrize(
    "message",
    [
        "why was transaction {id} flagged?",
        "explain the false positive on transaction {id}",
        "which rules fired on transaction {id}, and by how much?",
    ],
)
def test_explain_false_positive_examples_name_each_fired_condition_with_its_margin(fraud_world, message):
    tx = Transaction.objects.filter(
        tenant__slug="aspora-remit", label=Label.LEGITIMATE, velocity=7, device_age_days__gte=3, amount__lte=2000
    ).exclude(country_risk__gte=8)[0]
    rule = _rule("velocity-burst")

    run = _ask(message.format(id=tx.pk))

    assert (run.status, run.skill.name) == (RunStatus.SUCCEEDED, "explain-false-positive")
    assert _tool_calls(run) == [("explain_transaction", {"transaction_id": tx.pk})]
    assert f"- **transaction**: #{tx.pk} · {tx.amount:,.2f} AED · " in run.answer
    assert " · confirmed legitimate" in run.answer
    assert "- **verdict**: A false positive: 1 rule fired on a transaction confirmed legitimate." in run.answer
    assert f"  - [velocity-burst](/fraud/rules/{rule.pk}/): velocity 7 > 5, over by 2" in run.answer
    similar = Transaction.objects.filter(tenant=tx.tenant, label=Label.LEGITIMATE, velocity__gt=5).exclude(pk=tx.pk)
    assert f"- **similar legitimate**: {similar.count():,} other legitimate transactions fire the same rules" in (
        run.answer
    )


def test_explain_gives_every_condition_of_every_fired_rule(fraud_world):
    tx = Transaction.objects.filter(
        tenant__slug="aspora-remit", label=Label.LEGITIMATE, amount__gt=2000, device_age_days__lt=3
    ).order_by("pk")[0]
    rule = _rule("high-amount-new-device")
    over = tx.amount - 2000
    under = 3 - tx.device_age_days

    run = _ask(f"why was transaction {tx.pk} flagged?")

    assert (
        f"  - [high-amount-new-device](/fraud/rules/{rule.pk}/): amount {tx.amount:,.2f} AED > 2,000.00 AED, "
        f"over by {over:,.2f} AED; device age {tx.device_age_days} day{'s' if tx.device_age_days != 1 else ''} "
        f"< 3 days, under by {under} day{'s' if under != 1 else ''}"
    ) in run.answer


def test_explain_a_caught_fraud_says_it_is_not_a_false_positive(fraud_world):
    tx = Transaction.objects.filter(tenant__slug="aspora-remit", label=Label.FRAUD, velocity__gt=5).order_by("pk")[0]

    run = _ask(f"explain transaction {tx.pk}")

    assert "- **verdict**: Not a false positive: confirmed fraud, caught by" in run.answer


def test_explain_a_transaction_no_rule_fires_on(fraud_world):
    tx = Transaction.objects.filter(
        tenant__slug="aspora-remit", velocity__lte=2, amount__lt=1000, country_risk__lte=3
    ).order_by("pk")[0]

    run = _ask(f"why was transaction {tx.pk} flagged?")

    assert "- **verdict**: No enabled rule fires on it, so it raised no alert." in run.answer


@pytest.mark.parametrize(
    "message",
    [
        "how are our fraud rules performing?",
        "show rule performance over the history",
        "precision and recall of each rule",
    ],
)
def test_rule_performance_examples_list_every_rule_busiest_first(fraud_world, message):
    rules = {rule.name: rule for rule in Rule.objects.filter(tenant__slug="aspora-remit")}
    expected, _ = outcomes_count(
        tenant_id=rules["velocity-burst"].tenant_id,
        rules={name: rule_conditions(rule) for name, rule in rules.items()},
    )

    run = _ask(message)

    assert (run.status, run.skill.name) == (RunStatus.SUCCEEDED, "rule-performance")
    assert _tool_calls(run) == [("rule_performance", {})]
    lines = run.answer.splitlines()
    assert lines[0] == "4 found:"
    assert lines[2] == "| rule | fires when | alerts | caught fraud | false positives | precision | recall |"
    order = sorted(expected, key=lambda name: (-expected[name].alerts, name))
    rows = lines[4:8]
    for name, row in zip(order, rows, strict=True):
        outcome = expected[name]
        assert row.startswith(f"| [{name}](/fraud/rules/{rules[name].pk}/) | ")
        assert row.endswith(
            f" | {outcome.alerts:,} | {outcome.caught:,} | {outcome.false_positives:,} | "
            f"{outcome.precision:.1%} | {outcome.recall:.1%} |"
        )
    assert "| velocity > 5 |" in run.answer
    assert "| amount > 2,000.00 AED and device age < 3 days |" in run.answer
    assert "card-testing" not in run.answer  # Northwind's rule


def test_every_fraud_example_passes_its_eval_on_the_offline_model(fraud_world):
    results = skill_evals_run(skill_names=["simulate-rule-change", "explain-false-positive", "rule-performance"])

    assert [(r.skill, r.ask, r.problems) for r in results if not r.passed] == []
    assert len(results) == 10
    assert {r.user for r in results} == {"lena"}
