"""The factory's admin from a staff user's side: the policy is edited, imported and exported; runs,
findings, approvals and deployments can be read and never written; others are refused."""

import json
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from factory.models import Approval, Deployment, FactoryRun, FactoryStage, Finding, RiskRule, RiskTier
from factory.policy import DEFAULT_TIER_RULE_ID, risk_policy_export, risk_policy_import, risk_policy_parse
from tests.factories import user_make

ASPORA_POLICY = (Path(settings.BASE_DIR) / ".aspora" / "risk-policy.json").read_text()
SHA = "3f2a9c1d" * 5
NEW_SHA = "9b7e4410" * 5
CHANGELISTS = ["risktier", "riskrule", "factoryrun", "finding", "approval", "deployment"]


@pytest.fixture
def staff(client, tenant):
    root = user_make("root", tenant=tenant, is_staff=True, is_superuser=True)
    client.force_login(root)
    return client


@pytest.fixture
def policy(db):
    return risk_policy_import(risk_policy_parse(ASPORA_POLICY, source="aspora"))


@pytest.fixture
def run(tenant, analyst):
    approver = user_make("priya", tenant=tenant)
    run = FactoryRun.objects.create(
        tenant=tenant,
        requester=analyst,
        title="Wealth Portfolio Checker",
        spec="---\nkind: product\n---\n",
        spec_name="wealth-portfolio-checker.md",
        kind="product",
        target_repo="wealth-portfolio-checker",
        branch="factory/run-1",
        head_sha=SHA,
        status="waiting_approval",
        tier=RiskTier.objects.get(name="high"),
        tier_rule="money-logic",
        tier_reason="high: rule 'money-logic' applies because it touches app/blocks/kelly.py.",
    )
    stage = FactoryStage.objects.create(run=run, name="review", status="passed", sha=SHA, summary="1 finding")
    Finding.objects.create(
        run=run,
        stage=stage,
        reviewer="bandit",
        rule_id="B602",
        severity="high",
        path="app/run.py",
        line=6,
        message="subprocess call with shell=True identified",
        sha=SHA,
    )
    Approval.objects.create(run=run, approver=approver, sha=SHA, decision="approve", comment="Checked the Kelly cap")
    Deployment.objects.create(
        run=run, target="wealth-portfolio-checker", deployer="local", sha=SHA, url="http://x:8101"
    )
    return run


@pytest.mark.parametrize("model", CHANGELISTS)
def test_every_factory_admin_lists_and_searches(staff, run, policy, model):
    url = reverse(f"admin:factory_{model}_changelist")

    assert staff.get(url).status_code == 200
    assert staff.get(url, {"q": "wealth"}).status_code == 200


def test_the_tier_list_shows_what_each_tier_requires(staff, policy):
    page = staff.get(reverse("admin:factory_risktier_changelist")).content.decode()

    for column in ("Rank", "Required approvals", "Auto deploy", "Blocking severity"):
        assert column in page
    assert "Export policy" in page
    assert "Import policy" in page


def test_tiers_are_fixed_but_what_they_require_is_editable(staff, policy):
    high = RiskTier.objects.get(name="high")
    url = reverse("admin:factory_risktier_change", args=[high.pk])
    form = {
        "description": high.description,
        "requires_tests": "on",
        "requires_evals": "on",
        "blocking_severity": "low",
        "required_approvals": "2",
        "auto_deploy": "",
        "rules-TOTAL_FORMS": "0",
        "rules-INITIAL_FORMS": "0",
    }
    for index, rule in enumerate(high.rules.all()):
        form.update(
            {
                f"rules-{index}-id": rule.pk,
                f"rules-{index}-tier": high.pk,
                f"rules-{index}-rule_id": rule.rule_id,
                f"rules-{index}-paths": json.dumps(rule.paths),
                f"rules-{index}-kinds": json.dumps(rule.kinds),
                f"rules-{index}-reason": rule.reason,
                f"rules-{index}-position": rule.position,
                f"rules-{index}-enabled": "on",
            }
        )
    form["rules-TOTAL_FORMS"] = form["rules-INITIAL_FORMS"] = str(high.rules.count())

    response = staff.post(url, form)

    assert response.status_code == 302, response.content.decode()[:2000]
    high.refresh_from_db()
    assert (high.required_approvals, high.blocking_severity, high.name, high.rank) == (2, "low", "high", 30)
    assert staff.get(reverse("admin:factory_risktier_add")).status_code == 403
    assert staff.post(reverse("admin:factory_risktier_delete", args=[high.pk]), {"post": "yes"}).status_code == 403
    assert RiskTier.objects.count() == 4


def _rule_form(**changes) -> dict:
    return {
        "rule_id": "payments",
        "tier": RiskTier.objects.get(name="critical").pk,
        "paths": '["domains/payments/**"]',
        "kinds": "[]",
        "reason": "Moves money",
        "position": "20",
        "enabled": "on",
        **changes,
    }


def test_a_rule_is_checked_like_a_policy_file_before_it_is_saved(staff, policy):
    url = reverse("admin:factory_riskrule_add")

    bad = staff.post(url, _rule_form(paths='["domains/**payments", "/etc"]', kinds='["job"]'))

    errors = bad.context["adminform"].form.errors
    assert errors["paths"] == [
        "[0] 'domains/**payments' uses '**' inside the segment '**payments'; '**' must be a whole segment, "
        "as in 'app/**/x.py'",
        "[1] '/etc' is absolute; paths are relative to the repository root",
    ]
    assert errors["kinds"] == ["[0] unknown kind 'job'; expected one of skill, product, change"]
    assert not RiskRule.objects.filter(rule_id="payments").exists()

    good = staff.post(url, _rule_form())

    assert good.status_code == 302
    rule = RiskRule.objects.get(rule_id="payments")
    assert (rule.tier.name, rule.paths, rule.kinds) == ("critical", ["domains/payments/**"], [])


def test_the_default_tier_rule_takes_no_paths(staff, policy):
    rule = RiskRule.objects.get(rule_id=DEFAULT_TIER_RULE_ID)
    url = reverse("admin:factory_riskrule_change", args=[rule.pk])

    response = staff.post(url, _rule_form(rule_id=DEFAULT_TIER_RULE_ID, paths='["**"]', reason=rule.reason))

    assert response.context["adminform"].form.non_field_errors() == [
        "The default-tier rule only names the tier used when no rule matches; leave paths and kinds empty."
    ]
    page = staff.get(reverse("admin:factory_riskrule_changelist")).content.decode()
    assert "(when no other rule matches)" in page


def test_a_run_is_shown_with_its_stages_findings_approvals_and_deployment_and_cannot_be_changed(staff, run):
    url = reverse("admin:factory_factoryrun_change", args=[run.pk])

    page = staff.get(url).content.decode()

    for text in (
        "Wealth Portfolio Checker",
        "money-logic",
        "B602",
        "app/run.py",
        "Checked the Kelly cap",
        "http://x:8101",
    ):
        assert text in page
    assert 'name="_save"' not in page
    assert staff.post(url, {"title": "Renamed", "status": "deployed"}).status_code == 403
    run.refresh_from_db()
    assert (run.title, run.status) == ("Wealth Portfolio Checker", "waiting_approval")
    assert staff.get(reverse("admin:factory_factoryrun_add")).status_code == 403
    assert staff.post(reverse("admin:factory_factoryrun_delete", args=[run.pk]), {"post": "yes"}).status_code == 403


def test_approvals_are_never_made_or_edited_in_the_admin(staff, run):
    approval = run.approvals.get()
    url = reverse("admin:factory_approval_change", args=[approval.pk])

    assert staff.get(url).status_code == 200
    assert staff.post(url, {"sha": NEW_SHA, "decision": "approve"}).status_code == 403
    assert staff.get(reverse("admin:factory_approval_add")).status_code == 403
    assert staff.post(reverse("admin:factory_approval_delete", args=[approval.pk]), {"post": "yes"}).status_code == 403
    approval.refresh_from_db()
    assert approval.sha == SHA


def test_deployments_are_read_only(staff, run):
    deployment = run.deployments.get()
    url = reverse("admin:factory_deployment_change", args=[deployment.pk])

    assert staff.post(url, {"status": "live", "url": "http://evil"}).status_code == 403
    deployment.refresh_from_db()
    assert deployment.url == "http://x:8101"


def test_export_downloads_the_policy_that_reimports_identically(staff, policy):
    response = staff.get(reverse("admin:factory_riskrule_export"))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == 'attachment; filename="risk-policy.json"'
    exported = response.content.decode()
    assert exported == risk_policy_export()
    risk_policy_import(risk_policy_parse(exported, source="download"))
    assert risk_policy_export() == exported


def test_importing_a_file_replaces_the_rules_and_says_what_changed(staff, policy):
    data = json.loads(ASPORA_POLICY)
    data["default_tier"] = "high"
    data["tiers"] = {"critical": {"required_approvals": 3}}
    data["rules"] = data["rules"][:2]
    upload = SimpleUploadedFile("risk-policy.json", json.dumps(data).encode(), content_type="application/json")

    response = staff.post(reverse("admin:factory_riskrule_import"), {"file": upload}, follow=True)

    shown = [str(m) for m in response.context["messages"]]
    assert shown == [
        "Tier critical: required_approvals 2 → 3.",
        "Default tier: medium → high.",
        "Imported risk-policy.json: 2 rules, default tier high.",
    ]
    assert list(RiskRule.objects.values_list("rule_id", flat=True)) == [
        DEFAULT_TIER_RULE_ID,
        "executor-core",
        "risk-gate",
    ]
    assert RiskTier.objects.get(name="critical").required_approvals == 3


def test_a_broken_policy_file_is_refused_with_the_field_that_is_wrong_and_nothing_changes(staff, policy):
    before = risk_policy_export()
    data = json.loads(ASPORA_POLICY)
    data["rules"][1]["tier"] = "urgent"
    upload = SimpleUploadedFile("risk-policy.json", json.dumps(data).encode())

    response = staff.post(reverse("admin:factory_riskrule_import"), {"file": upload})

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [
        "risk-policy.json: rules[1].tier: unknown tier 'urgent'; expected one of low, medium, high, critical"
    ]
    assert risk_policy_export() == before


def test_a_pasted_policy_imports_too(staff, policy):
    text = json.dumps({"version": 1, "rules": [{"id": "docs", "paths": ["docs/**"], "tier": "low", "reason": "Docs"}]})

    response = staff.post(reverse("admin:factory_riskrule_import"), {"text": text}, follow=True)

    assert [str(m) for m in response.context["messages"]][-1] == (
        "Imported the pasted policy: 1 rules, default tier medium."
    )
    assert list(RiskRule.objects.values_list("rule_id", flat=True)) == [DEFAULT_TIER_RULE_ID, "docs"]


def test_staff_who_may_only_view_the_policy_can_export_but_not_import(client, tenant, policy):
    viewer = user_make("vic", tenant=tenant, is_staff=True)
    viewer.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="factory", codename__in=["view_riskrule", "view_risktier"])
    )
    client.force_login(viewer)
    before = risk_policy_export()

    page = client.get(reverse("admin:factory_riskrule_changelist")).content.decode()
    exported = client.get(reverse("admin:factory_riskrule_export"))
    refused_form = client.get(reverse("admin:factory_riskrule_import"))
    refused_post = client.post(reverse("admin:factory_riskrule_import"), {"text": '{"version": 1}'})

    assert "Export policy" in page
    assert "Import policy" not in page
    assert exported.status_code == 200
    assert (refused_form.status_code, refused_post.status_code) == (403, 403)
    assert risk_policy_export() == before


def test_staff_without_factory_permissions_are_refused(client, tenant, run, policy):
    clerk = user_make("clerk", tenant=tenant, is_staff=True)
    client.force_login(clerk)

    assert client.get(reverse("admin:factory_riskrule_export")).status_code == 403
    assert client.get(reverse("admin:factory_riskrule_import")).status_code == 403
    assert client.get(reverse("admin:factory_factoryrun_changelist")).status_code == 403


def test_people_without_staff_access_cannot_open_the_factory_admin(client, analyst, run, policy):
    client.force_login(analyst)

    for url in (
        reverse("admin:factory_riskrule_import"),
        reverse("admin:factory_riskrule_export"),
        reverse("admin:factory_factoryrun_change", args=[run.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")
