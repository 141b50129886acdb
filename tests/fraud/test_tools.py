"""The fraud tools' answers to arguments a model may send: aliases, gaps and mistaken premises."""

from domains.fraud.models import Rule
from skills.services import skill_run_start
from tests.skills.conftest import context_for
from tests.skills.test_security import hostile_model


def _result(use_model, args: dict) -> dict:
    use_model(hostile_model(("simulate_rule_change", args)))
    run = skill_run_start(context=context_for("lena"), message="what if", skill_name="simulate-rule-change")
    return run.events.get(type="run.tool_result").data["result"]


def test_a_rule_with_several_conditions_needs_the_feature(fraud_world, use_model):
    result = _result(use_model, {"rule": "high-amount-new-device", "new_threshold": 7})

    assert result == {"error": "high-amount-new-device tests amount and device age: say which threshold should change."}


def test_device_age_is_accepted_for_device_age_days(fraud_world, use_model):
    result = _result(use_model, {"rule": "High_Amount_New_Device", "new_threshold": 7, "feature": "device_age"})

    assert result["change"] == "device age < 3 days → device age < 7 days"


def test_a_stated_current_threshold_that_is_wrong_is_questioned_not_assumed(fraud_world, use_model):
    result = _result(
        use_model, {"rule": "velocity-burst", "new_threshold": 7, "feature": "velocity", "stated_current_threshold": 6}
    )

    assert result == {"error": "The velocity threshold of velocity-burst is 5, not 6: which threshold should I try?"}


def test_the_current_threshold_is_a_simulation_that_changes_nothing(fraud_world, use_model):
    result = _result(use_model, {"rule": "large-transfer", "new_threshold": 10000})

    assert result["change"] == "amount >= 10,000.00 AED → amount >= 10,000.00 AED"
    assert result["note"] == "That is the rule's current threshold: nothing changes."
    assert result["alerts"].endswith("(+0)")


def test_a_disabled_rule_says_so_next_to_its_link(fraud_world, use_model):
    rule = Rule.objects.get(tenant__slug="aspora-remit", name="large-transfer")
    rule.enabled = False
    rule.save()

    result = _result(use_model, {"rule": "large-transfer", "new_threshold": 20000})

    assert result["rule"] == f"[large-transfer](/fraud/rules/{rule.pk}/) (disabled)"
