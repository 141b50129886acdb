"""Reads of the Code Factory, always scoped to the reader's tenant: a run of another tenant looks
like no run at all."""

from django.db.models import Prefetch, QuerySet

from factory.models import Deployment, DeploymentStatus, FactoryRun, FactoryStage, Finding, Kind, RiskRule, RiskTier
from factory.services import approvals_valid, run_payload, stage_payload
from tenants.models import User


def factory_run_list_for_user(*, user: User) -> QuerySet[FactoryRun]:
    return (
        FactoryRun.objects.filter(tenant_id=user.tenant_id)
        .select_related("requester", "tier")
        .prefetch_related(Prefetch("deployments", queryset=Deployment.objects.order_by("-created_at")))
    )


def factory_run_get_for_user(*, user: User, run_id) -> FactoryRun | None:
    try:
        return factory_run_list_for_user(user=user).filter(pk=run_id).first()
    except (ValueError, TypeError):  # not a UUID
        return None


def factory_run_get_by_prefix(*, user: User, prefix: str) -> FactoryRun | None:
    """A run named by its id or a unique prefix of it, as people type them in a terminal."""
    runs = [run for run in factory_run_list_for_user(user=user) if str(run.id).startswith(prefix.lower())]
    return runs[0] if len(runs) == 1 else None


def factory_run_stages(*, run: FactoryRun) -> list[FactoryStage]:
    return list(run.stages.order_by("started_at", "id"))


def factory_run_findings(*, run: FactoryRun) -> list[Finding]:
    return list(run.findings.order_by("-sha", "severity", "path", "line"))


def deployment_live(*, run: FactoryRun) -> Deployment | None:
    return run.deployments.filter(status=DeploymentStatus.LIVE).first()


def risk_policy_overview() -> list[tuple[RiskTier, list[RiskRule]]]:
    rules = list(RiskRule.objects.select_related("tier").order_by("position", "rule_id"))
    return [(tier, [rule for rule in rules if rule.tier_id == tier.pk]) for tier in RiskTier.objects.order_by("rank")]


def tier_requirements(tier: RiskTier, kind: str | None = None) -> list[str]:
    """What a tier asks of a change; of a run's kind, only what the deploy check will ask of it."""
    needs = []
    if tier.requires_tests and kind != Kind.SKILL:
        needs.append("tests pass")
    if tier.requires_evals and kind in (None, Kind.SKILL):
        needs.append("skill evals pass")
    needs.append(f"no review finding at or above {tier.blocking_severity}")
    if tier.required_approvals:
        who = "" if tier.requester_may_approve else ", not by the requester"
        needs.append(f"{tier.required_approvals} approval(s) of the exact commit{who}")
    needs.append("deploys on its own" if tier.auto_deploy else "deploys only after approval")
    return needs


def factory_run_summary(*, run: FactoryRun) -> dict:
    """Everything a terminal or an API client wants to know about a run, as plain data."""
    deployment = run.deployments.order_by("-created_at").first()
    return {
        **run_payload(run),
        "kind": run.kind,
        "requester": run.requester.username,
        "target_repo": run.target_repo,
        "branch": run.branch,
        "base_sha": run.base_sha,
        "tier_rule": run.tier_rule or None,
        "tier_reason": run.tier_reason,
        "iterations": run.iterations,
        "created_at": run.created_at.isoformat(),
        "duration_seconds": run.duration_seconds,
        "stages": [stage_payload(stage) for stage in factory_run_stages(run=run)],
        "findings": [
            {
                "reviewer": f.reviewer,
                "rule_id": f.rule_id,
                "severity": f.severity,
                "path": f.path,
                "line": f.line,
                "message": f.message,
                "sha": f.sha,
                "fixed_in_sha": f.fixed_in_sha or None,
            }
            for f in factory_run_findings(run=run)
        ],
        "approvals": [
            {"approver": a.approver.username, "sha": a.sha, "decision": a.decision, "counts": a in approvals_valid(run)}
            for a in run.approvals.select_related("approver")
        ],
        "deployment": None
        if deployment is None
        else {
            "target": deployment.target,
            "deployer": deployment.deployer,
            "status": deployment.status,
            "sha": deployment.sha,
            "url": deployment.url or None,
            "skill": deployment.target if deployment.deployer == "skill" else None,
            "skill_version": deployment.skill_version.number if deployment.skill_version_id else None,
        },
    }
