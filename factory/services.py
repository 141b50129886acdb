"""Writes of the Code Factory: queueing runs, recording stages, approvals, stopping, rollback.

Invariants:
- A run is queued only by someone whose role allows it, from a spec that parses; its pipeline is
  dispatched after the transaction commits (`factory.dispatch`).
- Every stage records the commit SHA it judged. An approval names a SHA and counts only while it is
  the run's head: a new commit voids it without touching the row.
- Every stage change is stored, then broadcast to the run's group (`factory.<id>`) and the
  tenant's factory group, in that order.
"""

from django.db import transaction
from django.utils import timezone

from aspora.errors import ApplicationError
from aspora.observability.metrics import factory_stage_observe
from aspora.realtime import broadcast, group_name
from audit.services import audit_factory_decision
from factory.models import (
    Approval,
    Decision,
    Deployment,
    DeploymentStatus,
    FactoryRun,
    FactoryStage,
    Kind,
    RiskTier,
    RunStatus,
    StageName,
    StageStatus,
)
from tenants.models import Role, User

QUEUE_ROLES = {Role.PRODUCT_MANAGER, Role.OPS_MANAGER, Role.ADMIN}
APPROVE_ROLES = {Role.OPS_MANAGER, Role.ADMIN}


class FactoryPermissionError(ApplicationError):
    status_code = 403


class FactoryRunNotFoundError(ApplicationError):
    """Also what a person outside the run's tenant sees."""

    status_code = 404


class SpecInvalidError(ApplicationError):
    status_code = 422


class ApprovalError(ApplicationError):
    status_code = 409


def run_group(run_id) -> str:
    return group_name("factory", run_id)


def tenant_group(tenant_id: int) -> str:
    return group_name("factory-tenant", tenant_id)


def _roles_in_tenant(user: User) -> set[str]:
    return set(user.memberships.filter(team__tenant_id=user.tenant_id).values_list("role", flat=True))


def user_may_queue(user: User) -> bool:
    if not user.is_active or user.tenant_id is None:
        return False
    return user.is_superuser or user.has_perm("factory.queue_factoryrun") or bool(_roles_in_tenant(user) & QUEUE_ROLES)


def user_may_approve(user: User) -> bool:
    if not user.is_active or user.tenant_id is None:
        return False
    return (
        user.is_superuser or user.has_perm("factory.approve_factoryrun") or bool(_roles_in_tenant(user) & APPROVE_ROLES)
    )


# --- risk tiers ------------------------------------------------------------------------------

DEFAULT_TIERS = {
    # name: rank, description, blocking severity, approvals, auto deploy (tests and evals always required)
    "low": (10, "Docs, copy and isolated additions.", "high", 0, True),
    "medium": (20, "New skills and products that only read.", "high", 0, True),
    "high": (30, "Anything that writes, moves money or changes what a team may see.", "medium", 1, False),
    "critical": (40, "The executor core, the risk gate itself, auth and tenancy.", "low", 2, False),
}


def risk_tiers_default_create() -> None:
    """The four tiers every installation starts with (migration 0002 made them; this restores any missing)."""
    for name, (rank, description, severity, approvals, auto) in DEFAULT_TIERS.items():
        RiskTier.objects.get_or_create(
            name=name,
            defaults={
                "rank": rank,
                "description": description,
                "blocking_severity": severity,
                "required_approvals": approvals,
                "auto_deploy": auto,
            },
        )


# --- queueing --------------------------------------------------------------------------------


def target_for(spec) -> str:
    """The repository a spec's change lands in: a domain pack for a skill, its own repo for a
    product, the repository it names for a change."""
    if spec.kind == Kind.CHANGE:
        return spec.target
    return f"pack-{spec.domain}" if spec.kind == Kind.SKILL else f"product-{spec.name}"


@transaction.atomic
def factory_run_queue(*, requester: User, spec_text: str, spec_name: str = "") -> FactoryRun:
    from factory.dispatch import factory_run_dispatch
    from factory.specs import SpecError, spec_parse

    if not user_may_queue(requester):
        raise FactoryPermissionError("Only product managers, ops managers and admins may queue factory runs.")
    try:
        spec = spec_parse(spec_text, source=spec_name or "the spec")
    except SpecError as exc:
        raise SpecInvalidError(str(exc)) from exc
    run = FactoryRun.objects.create(
        tenant_id=requester.tenant_id,
        requester=requester,
        title=spec.title,
        spec=spec_text,
        spec_name=spec_name,
        kind=spec.kind,
        target_repo=target_for(spec),
    )
    run_broadcast(run=run)
    transaction.on_commit(lambda: factory_run_dispatch(run_id=str(run.id)))
    return run


# --- stages ----------------------------------------------------------------------------------


def stage_start(*, run: FactoryRun, name: str, iteration: int | None = None, sha: str = "") -> FactoryStage:
    stage = FactoryStage.objects.create(
        run=run, name=name, iteration=run.iterations if iteration is None else iteration, sha=sha or run.head_sha
    )
    stage_broadcast(stage=stage)
    return stage


def stage_finish(
    *, stage: FactoryStage, status: str, summary: str, log: str = "", detail: dict | None = None, sha: str | None = None
) -> FactoryStage:
    stage.status = status
    stage.summary = summary[:300]
    stage.log = (stage.log + log)[-200_000:] if log else stage.log
    if detail:
        stage.detail = {**stage.detail, **detail}
    if sha is not None:
        stage.sha = sha
    stage.finished_at = None if status == StageStatus.WAITING else timezone.now()
    stage.save()
    factory_stage_observe(stage=stage)
    stage_broadcast(stage=stage)
    return stage


def stage_log(*, stage: FactoryStage, line: str) -> None:
    """Progress of a long stage, shown live; kept in the stage's log."""
    stage.log += line.rstrip() + "\n"
    FactoryStage.objects.filter(pk=stage.pk).update(log=stage.log)
    broadcast(
        group=run_group(stage.run_id),
        event_type="factory.log",
        payload={"run_id": str(stage.run_id), "stage": stage.name, "stage_id": stage.pk, "line": line.rstrip()},
    )


def stage_payload(stage: FactoryStage) -> dict:
    return {
        "id": stage.pk,
        "name": stage.name,
        "label": stage.get_name_display(),
        "iteration": stage.iteration,
        "status": stage.status,
        "sha": stage.sha,
        "summary": stage.summary,
        "duration_ms": stage.duration_ms,
    }


def stage_broadcast(*, stage: FactoryStage) -> None:
    broadcast(
        group=run_group(stage.run_id),
        event_type="factory.stage",
        payload={"run_id": str(stage.run_id), "stage": stage_payload(stage)},
    )


def run_payload(run: FactoryRun) -> dict:
    return {
        "id": str(run.id),
        "title": run.title,
        "kind": run.kind,
        "status": run.status,
        "status_label": run.get_status_display(),
        "head_sha": run.head_sha,
        "tier": run.tier.name if run.tier_id else None,
        "stop_reason": run.stop_reason,
    }


def run_broadcast(*, run: FactoryRun) -> None:
    payload = {"run_id": str(run.id), "run": run_payload(run)}
    broadcast(group=run_group(run.id), event_type="factory.run", payload=payload)
    broadcast(group=tenant_group(run.tenant_id), event_type="factory.run", payload=payload)


def run_update(*, run: FactoryRun, **fields) -> FactoryRun:
    for key, value in fields.items():
        setattr(run, key, value)
    if run.status in (RunStatus.DEPLOYED, RunStatus.FAILED, RunStatus.STOPPED, RunStatus.REJECTED):
        run.finished_at = run.finished_at or timezone.now()
        fields["finished_at"] = run.finished_at
    run.save(update_fields=list(fields))
    run_broadcast(run=run)
    return run


def run_fail(*, run: FactoryRun, reason: str) -> FactoryRun:
    return run_update(run=run, status=RunStatus.FAILED, stop_reason=reason)


# --- approvals -------------------------------------------------------------------------------


def approvals_valid(run: FactoryRun) -> list[Approval]:
    """Approvals that still count: for the run's current head, by people other than the requester
    unless the tier allows self-approval."""
    approvals = list(run.approvals.filter(sha=run.head_sha, decision=Decision.APPROVE).select_related("approver"))
    if run.tier_id and not run.tier.requester_may_approve:
        approvals = [a for a in approvals if a.approver_id != run.requester_id]
    return approvals


@transaction.atomic
def factory_run_approve(*, run: FactoryRun, user: User, sha: str, approve: bool = True, comment: str = "") -> Approval:
    """Approve (or reject) one exact commit of a run that waits for approval."""
    from factory.dispatch import factory_run_dispatch

    run = FactoryRun.objects.select_for_update(of=("self",)).select_related("tier").get(pk=run.pk)
    if run.tenant_id != user.tenant_id:
        raise FactoryRunNotFoundError("No such factory run.")
    if not user_may_approve(user):
        raise FactoryPermissionError("Approving factory runs needs the ops manager or admin role.")
    if run.status != RunStatus.WAITING:
        raise ApprovalError(f"This run is not waiting for approval (it is {run.get_status_display().lower()}).")
    if sha != run.head_sha:
        raise ApprovalError(
            f"Commit {sha[:12] or '(none)'} is not the run's head ({run.head_sha[:12]}): review the current diff "
            "and approve that commit."
        )
    if user.pk == run.requester_id and not run.tier.requester_may_approve:
        raise FactoryPermissionError(f"The requester cannot approve their own {run.tier.name}-tier run.")
    if run.approvals.filter(approver=user, sha=sha).exists():
        raise ApprovalError("You have already decided on this commit.")
    approval = Approval.objects.create(
        run=run, approver=user, sha=sha, decision=Decision.APPROVE if approve else Decision.REJECT, comment=comment
    )
    audit_factory_decision(run=run, approval=approval, user=user)
    stage = run.stages.filter(name=StageName.APPROVE, status=StageStatus.WAITING).last()
    if not approve:
        if stage:
            stage_finish(stage=stage, status=StageStatus.FAILED, summary=f"Rejected by {user.display_name}")
        run_update(
            run=run, status=RunStatus.REJECTED, stop_reason=f"Rejected by {user.display_name}: {comment}".strip()
        )
        return approval
    have, need = len(approvals_valid(run)), run.tier.required_approvals
    if stage:
        stage_log(stage=stage, line=f"approved {sha[:12]} by {user.display_name} ({have} of {need})")
    run_broadcast(run=run)  # every open page shows the new approval, even short of the count
    if have >= need:
        if stage:
            stage_finish(stage=stage, status=StageStatus.PASSED, summary=f"{have} of {need} approvals on {sha[:12]}")
        run_update(run=run, status=RunStatus.RUNNING)
        transaction.on_commit(lambda: factory_run_dispatch(run_id=str(run.id)))
    return approval


@transaction.atomic
def factory_run_stop(*, run: FactoryRun, user: User, reason: str = "") -> FactoryRun:
    run = FactoryRun.objects.select_for_update().get(pk=run.pk)
    if run.tenant_id != user.tenant_id:
        raise FactoryRunNotFoundError("No such factory run.")
    if not (user.pk == run.requester_id or user_may_approve(user)):
        raise FactoryPermissionError("Only the requester or an approver may stop a run.")
    if run.is_finished:
        raise ApprovalError(f"The run has already ended ({run.get_status_display().lower()}).")
    return run_update(
        run=run, status=RunStatus.STOPPED, stop_reason=f"Stopped by {user.display_name}. {reason}".strip()
    )


# --- deployments -----------------------------------------------------------------------------


@transaction.atomic
def deployment_act(*, user: User, deployment: Deployment, action: str) -> Deployment | None:
    """Stop, restart or roll back a deployment: approvers of the run's tenant only."""
    from factory import deployers

    if deployment.run.tenant_id != user.tenant_id:
        raise FactoryRunNotFoundError("No such factory run.")
    if not user_may_approve(user):
        raise FactoryPermissionError(
            "Stopping, restarting and rolling back deployments needs the ops manager or admin role."
        )
    operations = {
        "stop": deployers.deployment_stop,
        "restart": deployers.deployment_restart,
        "rollback": deployers.deployment_rollback,
    }
    if action not in operations:
        raise ApprovalError(f"Unknown deployment action {action!r}; expected stop, restart or rollback.")
    result = operations[action](deployment=deployment)
    run_broadcast(run=deployment.run)
    return result


def deployment_record(*, run: FactoryRun, **fields) -> Deployment:
    """A new live deployment of a target supersedes the one before it, which rollback returns to."""
    previous = (
        Deployment.objects.filter(target=fields["target"], status=DeploymentStatus.LIVE).order_by("-created_at").first()
    )
    if previous is not None:
        previous.status = DeploymentStatus.SUPERSEDED
        previous.stopped_at = timezone.now()
        previous.save(update_fields=["status", "stopped_at"])
    return Deployment.objects.create(run=run, previous=previous, **fields)
