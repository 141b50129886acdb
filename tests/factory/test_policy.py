"""The risk policy: its schema, glob matching, the tier a change lands in and why, and the database copy."""

import json
from pathlib import Path

import pytest
from django.conf import settings

from factory.models import RiskRule, RiskTier
from factory.policy import (
    DEFAULT_TIER_RULE_ID,
    RiskPolicyError,
    glob_match,
    risk_policy_export,
    risk_policy_from_db,
    risk_policy_import,
    risk_policy_merge,
    risk_policy_parse,
    risk_tier_for,
    risk_tier_requirements,
)

ASPORA_POLICY = Path(settings.BASE_DIR) / ".aspora" / "risk-policy.json"

PRODUCT_POLICY = {
    "version": 1,
    "default_tier": "medium",
    "tiers": {"high": {"required_approvals": 1, "auto_deploy": False}},
    "rules": [
        {"id": "docs", "paths": ["README.md", "docs/**"], "tier": "low", "reason": "Docs change no behaviour."},
        {"id": "money-logic", "paths": ["app/blocks/**"], "tier": "high", "reason": "Changes how money is computed"},
        {"id": "store", "paths": ["app/store.py"], "tier": "high", "reason": "Writes customer data"},
        {"id": "new-skill", "kinds": ["skill"], "tier": "medium", "reason": "Every new skill is reviewed"},
        {"id": "settings", "paths": ["app/settings.py"], "tier": "critical", "reason": "Secrets and hosts"},
    ],
}


def _policy(**changes):
    return risk_policy_parse(json.dumps({**PRODUCT_POLICY, **changes}), source="wealth/.aspora/risk-policy.json")


def _error(data) -> str:
    with pytest.raises(RiskPolicyError) as caught:
        risk_policy_parse(json.dumps(data), source="wealth/.aspora/risk-policy.json")
    return caught.value.message


# --- glob matching ---


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("app/blocks/**", "app/blocks/pnl.py", True),
        ("app/blocks/**", "app/blocks/fx/rates.py", True),
        ("app/blocks/**", "app/blocks", False),
        ("app/blocks/**", "app/blocksmith.py", False),
        ("**/README.md", "README.md", True),
        ("**/README.md", "domains/ecm/README.md", True),
        ("domains/*/tools.py", "domains/ecm/tools.py", True),
        ("domains/*/tools.py", "domains/ecm/sub/tools.py", False),
        ("app/**/test_*.py", "app/test_main.py", True),
        ("app/**/test_*.py", "app/a/b/test_main.py", True),
        ("*.md", "docs/guide.md", False),
        ("docs/*.md", "docs/guide.md", True),
        ("app/v?.py", "app/v2.py", True),
        ("app/v?.py", "app/v/.py", False),
        ("app/[!a]pi.py", "app/xpi.py", True),
        ("app/[!a]pi.py", "app/api.py", False),
        ("app/store.py", "app/store.pyc", False),
        (".aspora/**", ".aspora/risk-policy.json", True),
    ],
)
def test_globs_match_whole_paths_and_double_star_spans_directories(pattern, path, matches):
    assert glob_match(pattern, path) is matches


# --- parsing ---


def test_a_valid_policy_parses_with_its_overrides_and_rules():
    policy = _policy()

    assert policy.default_tier == "medium"
    assert policy.tiers["high"].given() == {"required_approvals": 1, "auto_deploy": False}
    assert [rule.id for rule in policy.rules] == ["docs", "money-logic", "store", "new-skill", "settings"]
    assert policy.rules[3].kinds == ["skill"]
    assert policy.rules[3].paths == []


def test_an_unknown_tier_names_the_file_and_the_field_path():
    rules = [{"id": "x", "paths": ["app/**"], "tier": "urgent", "reason": "r"}]

    assert _error({"version": 1, "rules": rules}) == (
        "wealth/.aspora/risk-policy.json: rules[0].tier: unknown tier 'urgent'; "
        "expected one of low, medium, high, critical"
    )
    assert _error({"version": 1, "tiers": {"severe": {}}}) == (
        "wealth/.aspora/risk-policy.json: tiers.severe: unknown tier 'severe'; "
        "expected one of low, medium, high, critical"
    )
    assert _error({"version": 1, "default_tier": "none"}) == (
        "wealth/.aspora/risk-policy.json: default_tier: unknown tier 'none'; "
        "expected one of low, medium, high, critical"
    )


def test_bad_globs_are_named_one_by_one():
    paths = ["app/**b", "app/[x", "/etc/passwd", "docs/", "../up"]
    rules = [{"id": "x", "paths": paths, "tier": "high", "reason": "r"}]

    message = _error({"version": 1, "rules": rules})

    assert message == (
        "wealth/.aspora/risk-policy.json: "
        "rules[0].paths[0]: 'app/**b' uses '**' inside the segment '**b'; '**' must be a whole segment, "
        "as in 'app/**/x.py'; "
        "rules[0].paths[1]: 'app/[x' has an unclosed '[' in '[x'; "
        "rules[0].paths[2]: '/etc/passwd' is absolute; paths are relative to the repository root; "
        "rules[0].paths[3]: 'docs/' ends with '/'; write 'docs/**' to match everything under it; "
        "rules[0].paths[4]: '../up' has an empty, '.' or '..' segment"
    )


def test_unknown_fields_wrong_types_and_versions_are_errors():
    data = {
        "version": 2,
        "owner": "me",
        "tiers": {"high": {"required_approvals": "one", "approvers": 3}},
        "rules": [{"id": "x", "paths": ["a"], "tier": "low", "reason": "r", "severity": "high", "kinds": ["job"]}],
    }

    assert _error(data) == (
        "wealth/.aspora/risk-policy.json: "
        "version: unsupported version 2; this Aspora reads version 1; "
        "tiers.high.required_approvals: Input should be a valid integer; "
        "tiers.high.approvers: unknown field; "
        "rules[0].kinds[0]: unknown kind 'job'; expected one of skill, product, change; "
        "rules[0].severity: unknown field; "
        "owner: unknown field"
    )


def test_rules_that_match_nothing_repeat_an_id_or_take_the_reserved_id_are_errors():
    assert _error({"version": 1, "rules": [{"id": "x", "tier": "low", "reason": "r"}]}) == (
        "wealth/.aspora/risk-policy.json: rules[0]: a rule needs paths, kinds or both; this one would match nothing"
    )
    twice = [{"id": "x", "paths": ["a"], "tier": "low", "reason": "r"}] * 2
    assert _error({"version": 1, "rules": twice}) == (
        "wealth/.aspora/risk-policy.json: rules: [1] repeats the rule id 'x'"
    )
    reserved = [{"id": DEFAULT_TIER_RULE_ID, "paths": ["a"], "tier": "low", "reason": "r"}]
    assert _error({"version": 1, "rules": reserved}) == (
        "wealth/.aspora/risk-policy.json: rules[0].id: "
        "'default-tier' is reserved; set the policy's default_tier instead"
    )


def test_text_that_is_not_a_json_object_says_where():
    with pytest.raises(RiskPolicyError) as caught:
        risk_policy_parse('{"version": 1,\n  "rules": [,]}', source="p.json")
    assert caught.value.message == "p.json: line 2, column 13: not valid JSON (Expecting value)"

    with pytest.raises(RiskPolicyError) as caught:
        risk_policy_parse("[]", source="p.json")
    assert caught.value.message == "p.json: the policy must be a JSON object, not list"
    assert isinstance(caught.value, ValueError)


# --- deciding a tier ---


def test_the_highest_tier_touched_wins_and_the_gate_says_which_rule_and_path():
    decision = risk_tier_for(
        policy=_policy(), changed_paths=["README.md", "app/blocks/kelly.py", "app/main.py"], kind="product"
    )

    assert decision.tier == "high"
    assert decision.rule_id == "money-logic"
    assert decision.matched_paths == ["app/blocks/kelly.py"]
    assert decision.reason == (
        "high: rule 'money-logic' applies because it touches app/blocks/kelly.py. Changes how money is computed"
    )
    assert [(m.rule_id, m.tier, m.paths) for m in decision.matches] == [
        ("docs", "low", ["README.md"]),
        ("money-logic", "high", ["app/blocks/kelly.py"]),
    ]


def test_a_critical_path_beats_every_other_rule_whatever_the_order():
    decision = risk_tier_for(
        policy=_policy(), changed_paths=["app/store.py", "app/settings.py", "app/blocks/pnl.py"], kind="product"
    )

    assert (decision.tier, decision.rule_id, decision.matched_paths) == ("critical", "settings", ["app/settings.py"])


def test_among_rules_of_the_winning_tier_the_first_in_policy_order_is_named():
    decision = risk_tier_for(policy=_policy(), changed_paths=["app/store.py", "app/blocks/pnl.py"], kind="product")

    assert decision.rule_id == "money-logic"
    assert [m.rule_id for m in decision.matches] == ["money-logic", "store"]


def test_nothing_matched_falls_back_to_the_default_tier_and_says_so():
    decision = risk_tier_for(policy=_policy(), changed_paths=["app/main.py", "tests/test_main.py"], kind="product")

    assert (decision.tier, decision.rule_id, decision.matches) == ("medium", None, [])
    assert decision.reason == (
        "medium: no rule of the policy matched the 2 changed path(s) (product); the policy's default tier applies."
    )


def test_a_docs_only_change_lands_below_the_default():
    decision = risk_tier_for(policy=_policy(), changed_paths=["docs/usage.md", "README.md"], kind="product")

    assert (decision.tier, decision.rule_id, decision.matched_paths) == ("low", "docs", ["README.md", "docs/usage.md"])


def test_kinds_filter_rules_and_a_kind_only_rule_explains_itself():
    skill = risk_tier_for(policy=_policy(), changed_paths=["skills/ecm-brief/SKILL.md"], kind="skill")
    product = risk_tier_for(policy=_policy(), changed_paths=["skills/ecm-brief/SKILL.md"], kind="product")

    assert (skill.tier, skill.rule_id) == ("medium", "new-skill")
    assert skill.reason == "medium: rule 'new-skill' applies because it is a skill change. Every new skill is reviewed"
    assert (product.tier, product.rule_id) == ("medium", None)


def test_a_rule_with_paths_and_kinds_needs_both():
    rules = [{"id": "skill-tools", "paths": ["tools.py"], "kinds": ["skill"], "tier": "high", "reason": "Tools"}]
    policy = risk_policy_parse(json.dumps({"version": 1, "default_tier": "low", "rules": rules}))

    assert risk_tier_for(policy=policy, changed_paths=["tools.py"], kind="skill").tier == "high"
    assert risk_tier_for(policy=policy, changed_paths=["tools.py"], kind="change").tier == "low"
    assert risk_tier_for(policy=policy, changed_paths=["other.py"], kind="skill").tier == "low"


def test_disabled_rules_do_not_count():
    rules = [{"id": "off", "paths": ["**"], "tier": "critical", "reason": "r", "enabled": False}]
    policy = risk_policy_parse(json.dumps({"version": 1, "rules": rules}))

    assert risk_tier_for(policy=policy, changed_paths=["a.py"], kind="change").tier == "medium"


def test_merging_a_repo_policy_only_adds_rules_and_never_lowers_the_default():
    database = _policy()
    repo = risk_policy_parse(
        json.dumps(
            {
                "version": 1,
                "default_tier": "low",
                "rules": [
                    PRODUCT_POLICY["rules"][0],
                    {"id": "everything-low", "paths": ["**"], "tier": "low", "reason": "Trust me"},
                    {"id": "money-logic", "paths": ["app/blocks/*"], "tier": "low", "reason": "No", "enabled": False},
                ],
            }
        )
    )

    merged = risk_policy_merge(database, repo)
    decision = risk_tier_for(policy=merged, changed_paths=["app/blocks/pnl.py"], kind="product")

    assert merged.default_tier == "medium"
    assert [rule.id for rule in merged.rules] == [
        "docs",
        "money-logic",
        "store",
        "new-skill",
        "settings",
        "everything-low",
        "money-logic",
    ]
    assert (decision.tier, decision.rule_id) == ("high", "money-logic")
    assert merged.tiers == database.tiers


# --- Aspora's own policy ---


@pytest.mark.parametrize(
    ("path", "tier", "rule"),
    [
        ("skills/executor.py", "critical", "executor-core"),
        ("skills/registry.py", "critical", "executor-core"),
        ("tenants/context.py", "critical", "executor-core"),
        ("factory/policy.py", "critical", "risk-gate"),
        ("factory/reviewers/static.py", "critical", "risk-gate"),
        ("factory/services.py", "critical", "risk-gate"),
        ("factory/admin.py", "critical", "risk-gate"),
        (".aspora/risk-policy.json", "critical", "risk-gate"),
        ("tenants/models.py", "critical", "auth-tenancy"),
        ("aspora/settings.py", "critical", "auth-tenancy"),
        ("domains/ecm/tools.py", "high", "domain-writes"),
        ("domains/fraud/services.py", "high", "domain-writes"),
        ("domains/ecm/aspora.config.yaml", "high", "skill-settings"),
        ("requirements.txt", "high", "build-and-ci"),
        ("docs/executor.md", "low", "docs"),
        ("domains/README.md", "low", "docs"),
        ("domains/ecm/skills/my-tickets/SKILL.md", "medium", None),
        ("templates/base.html", "medium", None),
    ],
)
def test_asporas_own_policy_puts_its_core_and_its_gate_at_critical(path, tier, rule):
    policy = risk_policy_parse(ASPORA_POLICY.read_text(), source=str(ASPORA_POLICY))

    decision = risk_tier_for(policy=policy, changed_paths=[path], kind="change")

    assert (decision.tier, decision.rule_id) == (tier, rule)


def test_a_docs_fix_that_also_touches_the_executor_is_critical():
    policy = risk_policy_parse(ASPORA_POLICY.read_text(), source=str(ASPORA_POLICY))

    decision = risk_tier_for(policy=policy, changed_paths=["docs/executor.md", "skills/executor.py"], kind="change")

    assert (decision.tier, decision.rule_id, decision.matched_paths) == (
        "critical",
        "executor-core",
        ["skills/executor.py"],
    )
    assert [m.rule_id for m in decision.matches] == ["executor-core", "docs"]


# --- the database copy ---


@pytest.mark.django_db
def test_import_writes_rules_in_order_and_tier_overrides_and_keeps_the_default_tier():
    policy = _policy(default_tier="high")

    stored = risk_policy_import(policy)

    assert list(RiskRule.objects.values_list("rule_id", "tier__name", "position")) == [
        (DEFAULT_TIER_RULE_ID, "high", 0),
        ("docs", "low", 1),
        ("money-logic", "high", 2),
        ("store", "high", 3),
        ("new-skill", "medium", 4),
        ("settings", "critical", 5),
    ]
    high = RiskTier.objects.get(name="high")
    assert (high.required_approvals, high.auto_deploy, high.blocking_severity) == (1, False, "medium")
    assert stored.default_tier == "high"
    assert stored.rules == policy.rules


@pytest.mark.django_db
def test_import_replaces_every_earlier_rule():
    risk_policy_import(_policy())
    risk_policy_import(_policy(rules=[PRODUCT_POLICY["rules"][1]]))

    assert list(RiskRule.objects.values_list("rule_id", flat=True)) == [DEFAULT_TIER_RULE_ID, "money-logic"]


@pytest.mark.django_db
def test_a_failing_import_changes_nothing(monkeypatch):
    risk_policy_import(_policy())
    before = risk_policy_export()
    broken = _policy(tiers={"critical": {"required_approvals": 3}})

    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(RiskRule.objects, "bulk_create", explode)
    with pytest.raises(RuntimeError):
        risk_policy_import(broken)

    assert risk_policy_export() == before
    assert RiskTier.objects.get(name="critical").required_approvals == 2


@pytest.mark.django_db
def test_export_reimports_identically():
    aspora = risk_policy_parse(ASPORA_POLICY.read_text(), source=str(ASPORA_POLICY))
    risk_policy_import(aspora)
    exported = risk_policy_export()

    reparsed = risk_policy_parse(exported, source="export.json")
    risk_policy_import(reparsed)

    assert risk_policy_export() == exported
    assert reparsed == risk_policy_from_db()
    assert reparsed.rules == aspora.rules
    data = json.loads(exported)
    assert list(data) == ["version", "default_tier", "tiers", "rules"]
    assert list(data["tiers"]) == ["low", "medium", "high", "critical"]
    assert data["tiers"]["critical"] == {
        "description": "The executor core, the risk gate itself, auth and tenancy.",
        "requires_tests": True,
        "requires_evals": True,
        "blocking_severity": "low",
        "required_approvals": 2,
        "requester_may_approve": False,
        "auto_deploy": False,
    }


@pytest.mark.django_db
def test_the_database_policy_without_rules_decides_the_default_tier():
    policy = risk_policy_from_db()

    assert (policy.default_tier, policy.rules) == ("medium", [])
    assert risk_tier_for(policy=policy, changed_paths=["x.py"], kind="change").tier == "medium"


@pytest.mark.django_db
def test_a_repo_may_tighten_a_tier_but_never_loosen_it():
    repo = risk_policy_parse(
        json.dumps(
            {
                "version": 1,
                "tiers": {
                    "medium": {"required_approvals": 1, "blocking_severity": "low", "auto_deploy": False},
                    "critical": {"required_approvals": 0, "blocking_severity": "critical", "auto_deploy": True},
                },
            }
        )
    )

    medium = risk_tier_requirements(tier="medium", policy=repo)
    critical = risk_tier_requirements(tier="critical", policy=repo)

    assert (medium.required_approvals, medium.blocking_severity, medium.auto_deploy) == (1, "low", False)
    assert (critical.required_approvals, critical.blocking_severity, critical.auto_deploy) == (2, "low", False)
    assert risk_tier_requirements(tier="low").auto_deploy is True
