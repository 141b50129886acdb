"""Skill evals: every example in the packs, run through the executor as its demo user.

An example passes when the message routes to its own skill, the run succeeds (confirmations are
approved), the expected tools are called in order, and every expected fact is in the answer.
Runs execute in-process and change the demo data like any run would: evaluate a demo database.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from aspora.errors import ApplicationError
from skills.models import RunStatus, Skill, SkillRun
from skills.services import skill_run_decide, skill_run_start
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
