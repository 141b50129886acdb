"""Writes of the Skills Executor: skill versions, grants, runs and their events.

Invariants:
- A `SkillVersion` is never changed; every edit (file, admin, factory) is a new version, and an
  invalid edit raises `SkillValidationError` before anything is written, so the current version
  stays live.
- `skill_run_start()` is the one way any front door starts a run. It records refusals as runs
  (status `refused`) before raising, and queues execution only after the transaction commits.
- Run events get a per-run sequence number, are stored, and are broadcast to the run's group
  (`run.<id>`) through `aspora.realtime`, in that order.
"""

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max, OuterRef, Subquery
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from guardian.shortcuts import assign_perm
from pydantic import ValidationError

from aspora.errors import ApplicationError
from aspora.realtime import broadcast, group_name
from audit.services import audit_run_event, audit_run_refused
from skills.models import Conversation, Domain, RunStatus, Skill, SkillRun, SkillRunEvent, SkillVersion, Source
from skills.packs import PackProblem, ParsedSkill, SkillEntry, domain_tool_names, skill_text_parse, validation_problems
from skills.router import skill_route
from skills.selectors import skill_get_for_context, skill_list_for_context
from tenants.context import AskerContext
from tenants.models import Team, User
from usage.services import run_admit

CORE_CONTEXT = {"user", "team", "tenant"}


class SkillValidationError(ApplicationError):
    status_code = 422

    def __init__(self, problems: list[PackProblem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems), extra={"problems": [str(p) for p in problems]})


class SkillNotFoundError(ApplicationError):
    """Also what a person sees for a skill they may not run: refusing must not reveal it exists."""

    status_code = 404


class NoSkillMatchedError(ApplicationError):
    status_code = 422


class MissingContextError(ApplicationError):
    status_code = 422


class RunStateError(ApplicationError):
    status_code = 409


def run_group(run_id) -> str:
    return group_name("run", run_id)


# --- versions -------------------------------------------------------------------------------


def skill_version_create(
    *, domain: Domain, parsed: ParsedSkill, source: str, author: User | None = None, note: str = ""
) -> SkillVersion:
    """Make `parsed` the skill's current version; an unchanged skill keeps its current version."""
    skill, _ = Skill.objects.select_for_update().get_or_create(name=parsed.entry.name, defaults={"domain": domain})
    if skill.domain_id != domain.pk:
        raise SkillValidationError(
            [PackProblem(parsed.entry.path, None, "name", f"{skill.name!r} already belongs to domain {skill.domain}")]
        )
    current = skill.current_version
    if current is not None and current.sha256 == parsed.sha256:
        return current
    # A candidate the factory evaluated with exactly this content becomes live as it is.
    candidate = skill.versions.filter(sha256=parsed.sha256, number__gt=current.number if current else 0).first()
    if candidate is not None:
        skill.current_version = candidate
        skill.is_active = skill.is_active or current is None
        skill.save(update_fields=["current_version", "is_active", "updated_at"])
        return candidate
    version = _version_store(skill=skill, parsed=parsed, source=source, author=author, note=note)
    skill.current_version = version
    # A skill first stored as a factory candidate goes live with its first current version.
    skill.is_active = skill.is_active or current is None
    skill.save(update_fields=["current_version", "is_active", "updated_at"])
    return version


@transaction.atomic
def skill_version_candidate_create(
    *, domain: Domain, parsed: ParsedSkill, author: User | None = None, note: str = ""
) -> SkillVersion:
    """Store `parsed` as a version that is not live, so it can be evaluated before it deploys.

    A skill that does not exist yet is created inactive: no catalog lists it and no one can run it
    until a version of it becomes current (`skill_version_create`, which reuses this candidate).
    """
    skill, _ = Skill.objects.select_for_update().get_or_create(
        name=parsed.entry.name, defaults={"domain": domain, "is_active": False}
    )
    if skill.domain_id != domain.pk:
        raise SkillValidationError(
            [PackProblem(parsed.entry.path, None, "name", f"{skill.name!r} already belongs to domain {skill.domain}")]
        )
    existing = skill.versions.filter(sha256=parsed.sha256).order_by("-number").first()
    if existing is not None:
        return existing
    return _version_store(skill=skill, parsed=parsed, source=Source.FACTORY, author=author, note=note)


def _version_store(*, skill: Skill, parsed: ParsedSkill, source: str, author: User | None, note: str) -> SkillVersion:
    return SkillVersion.objects.create(
        skill=skill,
        number=(skill.versions.aggregate(n=Max("number"))["n"] or 0) + 1,
        content=parsed.content,
        description=parsed.description,
        instructions=parsed.instructions,
        frontmatter=parsed.frontmatter,
        config=parsed.config,
        sha256=parsed.sha256,
        source=source,
        author=author,
        note=note[:240],
    )


def skill_run_candidate_start(*, context: AskerContext, version: SkillVersion, message: str) -> SkillRun:
    """Record an evaluation run pinned to a (possibly not yet live) version; the caller executes it."""
    conversation = Conversation.objects.create(
        user=context.user, skill_version=version, channel=context.channel, title=message[:200]
    )
    return SkillRun.objects.create(
        **_run_fields(context=context, message=message, run_id=None),
        skill=version.skill,
        skill_version=version,
        conversation=conversation,
        routed=False,
    )


def skill_parse_edit(*, skill: Skill, content: str, config: Mapping[str, Any]) -> ParsedSkill:
    """Validate an edit made outside the pack (admin, factory) exactly as a file would be."""
    label = f"{skill.domain.name}/{skill.name} (edit)"
    try:
        entry = SkillEntry.model_validate({"path": f"skills/{skill.name}/SKILL.md", **config, "name": skill.name})
    except ValidationError as exc:
        raise SkillValidationError(validation_problems(exc, label, None)) from exc
    tools = domain_tool_names(skill.domain.name) or set()
    unknown = [tool for tool in entry.tools if tool not in tools]
    if unknown:
        raise SkillValidationError([PackProblem(label, None, "tools", f"unknown tool(s) {', '.join(unknown)}")])
    parsed, problems = skill_text_parse(text=content, file=label, entry=entry)
    if problems:
        raise SkillValidationError(problems)
    return parsed


@transaction.atomic
def skill_edit(
    *, skill: Skill, content: str, config: Mapping[str, Any], author: User, source: str = Source.ADMIN, note: str = ""
) -> SkillVersion:
    parsed = skill_parse_edit(skill=skill, content=content, config=config)
    return skill_version_create(domain=skill.domain, parsed=parsed, source=source, author=author, note=note)


@transaction.atomic
def skill_rollback(*, skill: Skill, version: SkillVersion) -> Skill:
    if version.skill_id != skill.pk:
        raise SkillValidationError([PackProblem(skill.name, None, "version", "belongs to another skill")])
    skill.current_version = version
    skill.save(update_fields=["current_version", "updated_at"])
    return skill


def domain_grants_apply(*, domain: Domain) -> int:
    """Grant the pack's default `run`/`change` permissions to teams with the named slugs, in every tenant."""
    grants = domain.config.get("grants", {})
    applied = 0
    for perm, slugs in (("run_domain", grants.get("run", [])), ("change_domain", grants.get("change", []))):
        for team in Team.objects.filter(slug__in=slugs, group__isnull=False).select_related("group"):
            assign_perm(f"skills.{perm}", team.group, domain)
            applied += 1
    return applied


# --- runs -----------------------------------------------------------------------------------


class _Refusal(Exception):
    def __init__(self, error: ApplicationError, skill: Skill | None = None):
        self.error, self.skill, self.run_id = error, skill, None


def _run_fields(*, context: AskerContext, message: str, run_id: uuid.UUID | None) -> dict:
    """What every run records of who asked, from where, and what."""
    return {
        **({"id": run_id} if run_id else {}),
        "user": context.user,
        "team": context.team,
        "tenant": context.tenant,
        "channel": context.channel,
        "message": message,
        "extra": {key: str(value) for key, value in context.extra.items()},
    }


def _refusal_record(*, context: AskerContext, message: str, refusal: _Refusal) -> None:
    """A refused request is a run too: it is recorded, committed, and its id handed back with the error."""
    skill = refusal.skill
    run = SkillRun.objects.create(
        **_run_fields(context=context, message=message, run_id=refusal.run_id),
        skill=skill,
        skill_version=skill.current_version if skill else None,
        status=RunStatus.REFUSED,
        error=refusal.error.message,
        finished_at=timezone.now(),
    )
    audit_run_refused(run=run)
    refusal.error.extra["run_id"] = str(run.id)


def _available_skills_hint(context: AskerContext) -> str:
    names = [skill.name for skill in skill_list_for_context(context=context)]
    return f"Skills you can use: {', '.join(names)}." if names else "You cannot run any skill yet; ask an ops manager."


def _run_target(
    *, context: AskerContext, message: str, skill_name: str | None, conversation: Conversation | None
) -> tuple[Skill, SkillVersion, bool, list[dict]]:
    """Which skill version runs, whether it was routed, and the notices it carries (a budget nearly
    spent); raises `_Refusal` when none may."""
    if conversation is not None:
        if conversation.user_id != context.user.pk:
            raise _Refusal(SkillNotFoundError("No such conversation."))
        version = conversation.skill_version
        skill, routed = version.skill, False
    elif skill_name:
        skill, routed = skill_get_for_context(context=context, name=skill_name), False
        if skill is None:
            raise _Refusal(
                SkillNotFoundError(
                    f"There is no skill named {skill_name!r} that you can run. {_available_skills_hint(context)}"
                )
            )
        version = skill.current_version
    else:
        skill, routed = skill_route(skills=skill_list_for_context(context=context), message=message), True
        if skill is None:
            raise _Refusal(
                NoSkillMatchedError(f"I could not tell which skill you mean. {_available_skills_hint(context)}")
            )
        version = skill.current_version
    required = version.config.get("requires_context", [])
    missing = [key for key in required if key not in CORE_CONTEXT and key not in context.extra]
    if missing:
        error = MissingContextError(f"The skill {skill.name} needs {', '.join(missing)}, and none was given.")
        raise _Refusal(error, skill)
    try:
        notices = run_admit(context=context, skill=skill)  # rate limits and budgets: docs/usage.md
    except ApplicationError as error:
        raise _Refusal(error, skill) from None
    return skill, version, routed, notices


def skill_run_start(
    *,
    context: AskerContext,
    message: str,
    skill_name: str | None = None,
    conversation: Conversation | None = None,
    run_id: uuid.UUID | None = None,
) -> SkillRun:
    """Check, route and record a run, and queue it for execution once the transaction commits.

    Refusals (no such skill, not permitted, nothing matched, missing context) are recorded as
    `refused` runs and raised as `ApplicationError`s whose `extra["run_id"]` names the record.
    A caller that must listen before the run executes (a websocket) chooses the `run_id`.
    """
    from skills.tasks import skill_run_execute_task  # tasks import services: import late

    try:
        skill, version, routed, notices = _run_target(
            context=context, message=message, skill_name=skill_name, conversation=conversation
        )
    except _Refusal as refusal:
        refusal.run_id = run_id
        _refusal_record(context=context, message=message, refusal=refusal)
        raise refusal.error from None
    with transaction.atomic():
        # Every run opens a conversation (or continues one), which pins the skill version.
        if conversation is None:
            conversation = Conversation.objects.create(
                user=context.user, skill_version=version, channel=context.channel, title=message[:200]
            )
        else:
            Conversation.objects.filter(pk=conversation.pk).update(updated_at=timezone.now())
        run = SkillRun.objects.create(
            **_run_fields(context=context, message=message, run_id=run_id),
            skill=skill,
            skill_version=version,
            conversation=conversation,
            routed=routed,
        )
        for notice in notices:
            skill_run_event_record(run=run, type="run.notice", data=notice)
        transaction.on_commit(lambda: skill_run_execute_task.delay(str(run.id)))
    return run


@transaction.atomic
def skill_run_decide(*, user: User, run: SkillRun, approve: bool, note: str = "") -> SkillRun:
    """The asker confirms or rejects the tool calls a run is waiting on; execution resumes after commit."""
    from skills.tasks import skill_run_execute_task

    run = SkillRun.objects.select_for_update().get(pk=run.pk)
    if run.user_id != user.pk:
        raise SkillNotFoundError("No such run.")
    if run.status != RunStatus.AWAITING_CONFIRMATION:
        raise RunStateError(f"This run is not waiting for a confirmation (it is {run.get_status_display().lower()}).")
    decisions = {call["tool_call_id"]: approve for call in run.pending_tool_calls}
    run.status = RunStatus.PENDING
    run.save(update_fields=["status"])
    skill_run_event_record(run=run, type="run.confirmed", data={"approved": approve, "by": user.username, "note": note})
    transaction.on_commit(lambda: skill_run_execute_task.delay(str(run.id), decisions=decisions, note=note))
    return run


def skill_run_event_record(*, run: SkillRun, type: str, data: dict, seq: int | None = None) -> SkillRunEvent:
    """Store an event, then broadcast it. Sequence numbers let a client spot a gap and re-sync."""
    if seq is None:
        seq = (run.events.aggregate(n=Max("seq"))["n"] or 0) + 1
    return skill_run_events_record(run=run, events=[(seq, type, data)])[0]


def skill_run_events_record(
    *, run: SkillRun, events: list[tuple[int, str, dict]], run_fields: Iterable[str] = ()
) -> list[SkillRunEvent]:
    """Store `(seq, type, data)` events in one transaction, then broadcast them in order.

    `run_fields` are the run's own changes that come with them (started, finished): saved in the
    same transaction, so whoever reads an event also reads the run as it says."""
    with transaction.atomic():  # the events and their audit rows (docs/audit.md) are stored together
        if run_fields:
            run.save(update_fields=list(run_fields))
        stored = SkillRunEvent.objects.bulk_create(
            [SkillRunEvent(run=run, seq=seq, type=type, data=data) for seq, type, data in events]
        )
        for _, type, data in events:
            audit_run_event(run=run, type=type, data=data)
    # Always one message, however many events: a listening server takes each message off Redis in
    # several serialized round trips, so under load the number of messages is what queues up.
    batch = [{"seq": seq, "event": type, "data": data} for seq, type, data in events]
    broadcast(group=run_group(run.id), event_type="run.events", payload={"run_id": str(run.id), "events": batch})
    return stored


# --- the sweeper ----------------------------------------------------------------------------


def skill_runs_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Fail the runs no worker will finish, so none stays `running` or `pending` forever.

    A run is stuck when nothing happened to it (no event, no start) for longer than its skill's
    time limit plus `ASPORA_RUN_SWEEP_GRACE` while `running` (the worker executing it was lost and
    no redelivery came), or for `ASPORA_RUN_PENDING_TIMEOUT` while `pending` (its queued task was
    lost). A run waiting for a person's confirmation is never touched. Each change is conditional on
    the status it saw, so a worker finishing the run at the same moment wins.
    """
    now = now or timezone.now()
    grace = timedelta(seconds=settings.ASPORA_RUN_SWEEP_GRACE)
    pending_timeout = timedelta(seconds=settings.ASPORA_RUN_PENDING_TIMEOUT)
    last_event = SkillRunEvent.objects.filter(run=OuterRef("pk")).order_by("-seq").values("created_at")[:1]
    stuck = (
        SkillRun.objects.filter(status__in=[RunStatus.RUNNING, RunStatus.PENDING])
        .annotate(active_at=Greatest(Coalesce(Subquery(last_event), "queued_at"), Coalesce("started_at", "queued_at")))
        .filter(active_at__lt=now - min(grace, pending_timeout))
        .select_related("skill_version")
    )
    swept = {RunStatus.RUNNING.value: 0, RunStatus.PENDING.value: 0}
    for run in stuck:
        if run.status == RunStatus.RUNNING:
            limit = (run.skill_version.config if run.skill_version else {}).get("timeout_seconds", 120)
            if run.active_at >= now - timedelta(seconds=limit) - grace:
                continue
            message = (
                f"The run stopped: nothing happened for longer than its {limit} s limit, so the worker "
                "executing it was lost. Ask again."
            )
        else:
            if run.active_at >= now - pending_timeout:
                continue
            message = (
                f"No worker picked the run up within {int(pending_timeout.total_seconds())} s "
                "(its queued task was lost). Ask again."
            )
        with transaction.atomic():
            if SkillRun.objects.filter(pk=run.pk, status=run.status).update(
                status=RunStatus.FAILED, error=message, finished_at=now
            ):
                skill_run_event_record(run=run, type="run.error", data={"message": message})
                swept[run.status] += 1
    return swept
