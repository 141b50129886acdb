from skills.models import RunStatus, SkillRun
from skills.services import skill_run_decide, skill_run_start
from tests.skills.conftest import context_for


def ask(username: str, message: str, *, confirm: bool = True, skill: str | None = None) -> SkillRun:
    """Ask as a demo person, confirming what the run asks to confirm, and return the finished run."""
    context = context_for(username)
    run = skill_run_start(context=context, message=message, skill_name=skill)
    run.refresh_from_db()
    if confirm and run.status == RunStatus.AWAITING_CONFIRMATION:
        skill_run_decide(user=context.user, run=run, approve=True)
        run.refresh_from_db()
    return run
