from uuid import UUID

from ninja import Router, Status
from ninja.pagination import LimitOffsetPagination, paginate

from skills.models import SkillRun
from skills.packs import example_texts
from skills.schemas import ProblemOut, RunCreateIn, RunDecisionIn, RunDetailOut, RunEventOut, RunOut, SkillOut
from skills.selectors import (
    conversation_get_for_user,
    skill_list_for_context,
    skill_run_get_for_user,
    skill_run_list_for_user,
)
from skills.services import SkillNotFoundError, skill_run_decide, skill_run_start
from tenants.context import Channel
from tenants.services import asker_context_build

router = Router(tags=["skills"])
ERRORS = {401: ProblemOut, 403: ProblemOut, 404: ProblemOut, 409: ProblemOut, 422: ProblemOut}


def _run_out(run: SkillRun) -> dict:
    return {
        "id": run.id,
        "skill": run.skill.name if run.skill else None,
        "skill_version": run.skill_version.number if run.skill_version else None,
        "conversation_id": run.conversation_id,
        "channel": run.channel,
        "message": run.message,
        "status": run.status,
        "model": run.model,
        "offline": run.is_offline,
        "answer": run.answer,
        "error": run.error,
        "queued_at": run.queued_at,
        "started_at": run.started_at,
        "first_token_at": run.first_token_at,
        "finished_at": run.finished_at,
        "latency_ms": run.latency_ms,
        "input_tokens": run.input_tokens,
        "output_tokens": run.output_tokens,
        "cost_usd": run.cost_usd,
        "pending_tool_calls": run.pending_tool_calls,
    }


def _get_run(request, run_id: UUID) -> SkillRun:
    run = skill_run_get_for_user(user=request.user, run_id=run_id)
    if run is None:
        raise SkillNotFoundError("No such run.")
    return run


@router.get("/skills", response={200: list[SkillOut], **ERRORS}, operation_id="skills_list", summary="Skills I may run")
def skills_list(request, team: str | None = None):
    context = asker_context_build(
        user=request.user, channel=Channel.API, team=request.user.teams.filter(slug=team).first() if team else None
    )
    return [
        SkillOut(
            name=skill.name,
            domain=skill.domain.name,
            description=skill.current_version.description,
            version=skill.current_version.number,
            examples=example_texts(skill.current_version.config),
            tools=skill.current_version.tools,
            confirm=skill.current_version.config.get("confirm", []),
            requires_context=skill.current_version.config.get("requires_context", []),
        )
        for skill in skill_list_for_context(context=context)
    ]


@router.post("/runs", response={202: RunOut, **ERRORS}, operation_id="runs_create", summary="Ask a skill")
def runs_create(request, payload: RunCreateIn):
    """Start a run. It executes in the background: follow it with `GET /runs/{id}` or the run's websocket."""
    context = asker_context_build(user=request.user, channel=Channel.API, team_slug=payload.team, extra=payload.context)
    conversation = None
    if payload.conversation_id:
        conversation = conversation_get_for_user(user=request.user, conversation_id=payload.conversation_id)
        if conversation is None:
            raise SkillNotFoundError("No such conversation.")
    run = skill_run_start(context=context, message=payload.message, skill_name=payload.skill, conversation=conversation)
    return Status(202, _run_out(run))


@router.get("/runs", response={200: list[RunOut], **ERRORS}, operation_id="runs_list", summary="My runs, newest first")
@paginate(LimitOffsetPagination)
def runs_list(request):
    return [_run_out(run) for run in skill_run_list_for_user(user=request.user)[:500]]


@router.get(
    "/runs/{run_id}", response={200: RunDetailOut, **ERRORS}, operation_id="runs_get", summary="A run and its events"
)
def runs_get(request, run_id: UUID, after: int = 0):
    run = _get_run(request, run_id)
    events = [
        RunEventOut(seq=e.seq, type=e.type, data=e.data, created_at=e.created_at)
        for e in run.events.filter(seq__gt=after)
    ]
    return {**_run_out(run), "events": events}


@router.post(
    "/runs/{run_id}/decision",
    response={202: RunOut, **ERRORS},
    operation_id="runs_decide",
    summary="Confirm or reject a pending tool call",
)
def runs_decide(request, run_id: UUID, payload: RunDecisionIn):
    run = skill_run_decide(user=request.user, run=_get_run(request, run_id), approve=payload.approve, note=payload.note)
    return Status(202, _run_out(run))
