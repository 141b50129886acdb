"""The Code Factory's API router, mounted at /api/factory/: queue a run from a spec, list and read
runs, approve or reject a run's exact head commit.

Thin: one service or selector per operation. Reads are scoped to the caller's tenant (another
tenant's run is a 404); refusals are the services' own RFC 7807 problems (403 no role or
self-approval, 409 stale commit, 422 a spec that does not parse, naming its line and field).
"""

from uuid import UUID

from ninja import Router, Status
from ninja.pagination import LimitOffsetPagination, paginate

from factory.models import FactoryRun, RunStatus
from factory.schemas import (
    FactoryApprovalCreatedOut,
    FactoryApprovalIn,
    FactoryRunCreateIn,
    FactoryRunDetailOut,
    FactoryRunOut,
)
from factory.selectors import factory_run_get_for_user, factory_run_list_for_user, factory_run_summary
from factory.services import FactoryRunNotFoundError, approvals_valid, factory_run_approve, factory_run_queue
from skills.schemas import ProblemOut

router = Router(tags=["factory"])
ERRORS = {401: ProblemOut, 403: ProblemOut, 404: ProblemOut, 409: ProblemOut, 422: ProblemOut}


def _run_out(run: FactoryRun) -> dict:
    return {
        "id": run.id,
        "title": run.title,
        "kind": run.kind,
        "status": run.status,
        "status_label": run.get_status_display(),
        "head_sha": run.head_sha,
        "tier": run.tier.name if run.tier_id else None,
        "stop_reason": run.stop_reason,
        "requester": run.requester.username,
        "created_at": run.created_at,
    }


def _get_run(request, run_id: UUID) -> FactoryRun:
    run = factory_run_get_for_user(user=request.user, run_id=run_id)
    if run is None:
        raise FactoryRunNotFoundError("No such factory run.")
    return run


@router.post(
    "/runs",
    response={201: FactoryRunDetailOut, **ERRORS},
    operation_id="factory_runs_create",
    summary="Queue a factory run from a spec",
)
def factory_runs_create(request, payload: FactoryRunCreateIn):
    """Queue a run as the caller. It runs in the background: follow it with `GET /factory/runs/{id}`."""
    run = factory_run_queue(requester=request.user, spec_text=payload.spec, spec_name=payload.spec_name)
    return Status(201, factory_run_summary(run=run))


@router.get(
    "/runs",
    response={200: list[FactoryRunOut], **ERRORS},
    operation_id="factory_runs_list",
    summary="My organisation's factory runs, newest first",
)
@paginate(LimitOffsetPagination)
def factory_runs_list(request, status: RunStatus | None = None):
    runs = factory_run_list_for_user(user=request.user)
    if status:
        runs = runs.filter(status=status)
    return [_run_out(run) for run in runs[:500]]


@router.get(
    "/runs/{run_id}",
    response={200: FactoryRunDetailOut, **ERRORS},
    operation_id="factory_runs_get",
    summary="A run: tier, stages, findings, approvals and deployment",
)
def factory_runs_get(request, run_id: UUID):
    return factory_run_summary(run=_get_run(request, run_id))


@router.post(
    "/runs/{run_id}/approvals",
    response={201: FactoryApprovalCreatedOut, **ERRORS},
    operation_id="factory_runs_approve",
    summary="Approve or reject the run's exact head commit",
)
def factory_runs_approve(request, run_id: UUID, payload: FactoryApprovalIn):
    run = _get_run(request, run_id)
    approval = factory_run_approve(
        run=run, user=request.user, sha=payload.sha, approve=payload.approve, comment=payload.comment
    )
    run.refresh_from_db()
    return Status(
        201,
        {
            "approver": request.user.username,
            "sha": approval.sha,
            "decision": approval.decision,
            "counts": approval in approvals_valid(run),
            "run_status": run.status,
        },
    )
