"""With the model against us, a fraud tool still sees only the asker's tenant (OWASP LLM06)."""

import json

import pytest
from pydantic_ai.models.function import FunctionModel

from domains.fraud.models import Rule, Transaction
from skills.models import RunStatus, SkillRun
from skills.services import NoSkillMatchedError, SkillNotFoundError, skill_run_start
from tests.skills.conftest import context_for
from tests.skills.test_security import hostile_model


def _results(run: SkillRun) -> list[dict]:
    return [e.data for e in run.events.filter(type="run.tool_result").order_by("seq")]


def _run(skill: str, message: str = "do it") -> SkillRun:
    run = skill_run_start(context=context_for("lena"), message=message, skill_name=skill)
    run.refresh_from_db()
    return run


def test_another_tenants_rule_id_is_reported_exactly_like_a_missing_one(fraud_world, use_model):
    theirs = Rule.objects.get(tenant__slug="northwind", name="card-testing")
    missing = Rule.objects.order_by("-pk").first().pk + 1000
    use_model(
        hostile_model(
            ("simulate_rule_change", {"rule": str(theirs.pk), "new_threshold": 3}),
            ("simulate_rule_change", {"rule": str(missing), "new_threshold": 3}),
        )
    )

    run = _run("simulate-rule-change")

    foreign, absent = (result["result"] for result in _results(run))
    assert foreign == {"error": f"There is no rule '{theirs.pk}' among your fraud rules."}
    assert absent == {"error": f"There is no rule '{missing}' among your fraud rules."}
    assert run.status == RunStatus.SUCCEEDED


def test_another_tenants_rule_name_is_not_found_and_a_shared_name_means_the_askers_rule(fraud_world, use_model):
    use_model(
        hostile_model(
            ("simulate_rule_change", {"rule": "card-testing", "new_threshold": 3, "feature": "velocity"}),
            ("simulate_rule_change", {"rule": "velocity-burst", "new_threshold": 3, "feature": "velocity"}),
        )
    )
    ours = Rule.objects.get(tenant__slug="aspora-remit", name="velocity-burst")

    run = _run("simulate-rule-change")

    foreign, shared = (result["result"] for result in _results(run))
    assert foreign == {"error": "There is no rule 'card-testing' among your fraud rules."}
    assert shared["rule"] == f"[velocity-burst](/fraud/rules/{ours.pk}/)"
    assert shared["change"] == "velocity > 5 → velocity > 3"  # Northwind's velocity-burst is velocity > 3
    assert shared["history"].startswith("3,000 transactions")


def test_another_tenants_transaction_is_reported_exactly_like_a_missing_one(fraud_world, use_model):
    theirs = Transaction.objects.filter(tenant__slug="northwind").order_by("pk").first()
    missing = Transaction.objects.order_by("-pk").first().pk + 1000
    use_model(
        hostile_model(
            ("explain_transaction", {"transaction_id": theirs.pk}),
            ("explain_transaction", {"transaction_id": missing}),
        )
    )

    run = _run("explain-false-positive")

    foreign, absent = (result["result"] for result in _results(run))
    assert foreign == {"error": f"Transaction #{theirs.pk} was not found in your tenant's history."}
    assert absent == {"error": f"Transaction #{missing} was not found in your tenant's history."}


def test_arguments_naming_a_tenant_are_rejected_by_the_tools_schema(fraud_world, use_model):
    use_model(hostile_model(("rule_performance", {"tenant": "northwind"})))

    run = _run("rule-performance")

    [result] = _results(run)
    assert result["ok"] is False
    assert "card-testing" not in json.dumps([e.data for e in run.events.all()])


def test_the_rule_names_offered_to_the_model_are_the_askers_own(fraud_world, use_model):
    offered = []

    async def stream(messages, info):
        offered.extend(
            tool.parameters_json_schema["properties"]["rule"].get("enum", []) for tool in info.function_tools
        )
        yield "done"

    use_model(FunctionModel(stream_function=stream, model_name="spy"))

    _run("simulate-rule-change")

    assert offered == [["high-amount-new-device", "risky-country-velocity", "large-transfer", "velocity-burst"]]


def test_a_tool_another_skill_lists_cannot_be_called(fraud_world, use_model):
    use_model(hostile_model(("simulate_rule_change", {"rule": "velocity-burst", "new_threshold": 7})))

    run = _run("rule-performance")

    [result] = _results(run)
    assert (result["ok"], result["outcome"]) == (False, "retried")
    assert "Unknown tool name: 'simulate_rule_change'" in json.dumps(result["result"])


def test_people_outside_fraud_risk_cannot_run_the_fraud_skills(fraud_world):
    with pytest.raises(SkillNotFoundError):
        skill_run_start(context=context_for("sarah"), message="x", skill_name="rule-performance")
    with pytest.raises(SkillNotFoundError):
        skill_run_start(context=context_for("theo"), message="x", skill_name="rule-performance")
    with pytest.raises(NoSkillMatchedError):
        skill_run_start(context=context_for("theo"), message="how are our fraud rules performing?")
