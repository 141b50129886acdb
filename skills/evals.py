"""Skill evals: every example in the packs, run through the executor as its demo user.

An example passes when the message routes to its own skill, the run succeeds (confirmations are
approved), the expected tools are called in order, and every expected fact is in the answer.
Runs execute in-process and change the demo data like any run would: evaluate a demo database.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aspora.errors import ApplicationError
from skills.models import Domain, RunStatus, Skill, SkillRun
from skills.packs import pack_read
from skills.router import skill_route
from skills.selectors import skill_list_for_context, skill_may_run
from skills.services import (
    skill_run_candidate_start,
    skill_run_decide,
    skill_run_start,
    skill_version_candidate_create,
)
from tenants.context import Channel
from tenants.models import User
from tenants.services import asker_context_build

MAX_CONFIRMATIONS = 3


@dataclass
class EvalResult:
    skill: str
    ask: str
    user: str
    problems: list[str] = field(default_factory=list)
    run_id: str | None = None

    @property
    def passed(self) -> bool:
        return not self.problems


def _check(result: EvalResult, run: SkillRun, example: dict) -> None:
    if run.skill is None or run.skill.name != result.skill:
        result.problems.append(f"routed to {run.skill.name if run.skill else 'no skill'}, expected {result.skill}")
    if run.status != RunStatus.SUCCEEDED:
        result.problems.append(f"run {run.status}: {run.error or 'no answer'}")
    expected_tools = example.get("tools")
    if expected_tools is not None:
        called = list(run.events.filter(type="run.tool_call").order_by("seq").values_list("data__name", flat=True))
        if called != expected_tools:
            result.problems.append(f"called {called or 'no tools'}, expected {expected_tools}")
    missing = [fact for fact in example.get("facts", []) if fact not in run.answer]
    if missing:
        result.problems.append(f"answer lacks {missing}")


def skill_evals_run(
    *, skill_names: list[str] | None = None, report: Callable[[EvalResult], None] = lambda r: None
) -> list[EvalResult]:
    results = []
    skills = (
        Skill.objects.filter(is_active=True, current_version__isnull=False)
        .select_related("current_version")
        .order_by("domain__name", "pk")
    )
    if skill_names:
        skills = skills.filter(name__in=skill_names)
    for skill in skills:
        config = skill.current_version.config
        for example in config.get("examples", []):
            username = example.get("as") or config.get("eval_as") or ""
            result = EvalResult(skill=skill.name, ask=example["ask"], user=username)
            results.append(result)
            user = User.objects.filter(username=username, is_active=True).first()
            if user is None:
                result.problems.append(f"no demo user {username!r} to ask as (set `as` or `eval_as`)")
                report(result)
                continue
            try:
                run = skill_run_start(
                    context=asker_context_build(user=user, channel=Channel.EVAL), message=example["ask"]
                )
                run.refresh_from_db()
                for _ in range(MAX_CONFIRMATIONS):
                    if run.status != RunStatus.AWAITING_CONFIRMATION:
                        break
                    skill_run_decide(user=user, run=run, approve=True, note="approved by the eval")
                    run.refresh_from_db()
            except ApplicationError as exc:
                result.problems.append(exc.message)
            else:
                result.run_id = str(run.id)
                _check(result, run, example)
            report(result)
    return results


def skill_candidate_evaluate(
    *, pack: Path, skill_name: str, author: User | None = None, note: str = ""
) -> list[EvalResult]:
    """Evaluate a skill as it stands in a pack on disk, before it is live.

    The skill is stored as a candidate version (not current), and each example must route to it
    among what its asker may already run, be permitted to that asker, and pass as an eval run pinned
    to the candidate. Runs execute here, in-process, with confirmations approved: a pipeline stage
    must not wait on another worker.
    """
    from skills.executor import skill_run_execute  # the executor is heavy: load it when evaluating

    read = pack_read(pack)
    parsed = next((p for p in read.skills if p.entry.name == skill_name), None)
    if read.problems or parsed is None or read.config is None:
        problems = [str(problem) for problem in read.problems] or [f"the pack has no skill named {skill_name!r}"]
        return [EvalResult(skill=skill_name, ask="(the pack)", user="", problems=problems)]
    domain = Domain.objects.get(name=read.config.domain.name)
    version = skill_version_candidate_create(domain=domain, parsed=parsed, author=author, note=note)
    candidate = version.skill
    candidate.is_active, candidate.current_version = True, version  # as it will be once deployed

    results = []
    for example in parsed.config.get("examples", []):
        username = example.get("as") or parsed.config.get("eval_as") or ""
        result = EvalResult(skill=skill_name, ask=example["ask"], user=username)
        results.append(result)
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            result.problems.append(f"no demo user {username!r} to ask as (set `as` or `eval_as`)")
            continue
        context = asker_context_build(user=user, channel=Channel.EVAL)
        if not skill_may_run(context=context, skill=candidate):
            result.problems.append(f"{username} may not run {skill_name}")
            continue
        others = [skill for skill in skill_list_for_context(context=context) if skill.name != skill_name]
        routed = skill_route(skills=[*others, candidate], message=example["ask"])
        if routed is not candidate:
            result.problems.append(f"routes to {routed.name if routed else 'no skill'}, not to {skill_name}")
            continue
        run = skill_run_candidate_start(context=context, version=version, message=example["ask"])
        result.run_id = str(run.id)
        run = skill_run_execute(run_id=str(run.id))
        for _ in range(MAX_CONFIRMATIONS):
            if run.status != RunStatus.AWAITING_CONFIRMATION:
                break
            decisions = {call["tool_call_id"]: True for call in run.pending_tool_calls}
            run = skill_run_execute(run_id=str(run.id), decisions=decisions, note="approved by the eval")
        run.refresh_from_db()
        _check(result, run, example)
    if not results:
        results.append(EvalResult(skill=skill_name, ask="(examples)", user="", problems=["the skill has no examples"]))
    return results
