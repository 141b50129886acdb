"""Celery tasks of the Skills Executor. They take ids and are safe to run twice."""

import logging

from celery import shared_task
from django.utils import timezone

from skills.models import RunStatus, SkillRun

logger = logging.getLogger(__name__)
MAX_DELIVERIES = 3


@shared_task(name="skills.skill_run_execute", acks_late=True, reject_on_worker_lost=True)
def skill_run_execute_task(run_id: str, decisions: dict | None = None, note: str = "") -> str | None:
    from skills.executor import skill_run_execute

    run = SkillRun.objects.filter(pk=run_id).first()
    if run is None:
        logger.warning("run %s no longer exists", run_id)
        return None
    # A run found `running` was being executed by a worker that died: retry it a bounded
    # number of times, then fail it clearly rather than leave it stuck.
    if run.status == RunStatus.RUNNING and run.attempts >= MAX_DELIVERIES:
        SkillRun.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(
            status=RunStatus.FAILED,
            error=f"The run was interrupted {run.attempts} times (worker lost) and was stopped.",
            finished_at=timezone.now(),
        )
        return RunStatus.FAILED
    return skill_run_execute(run_id=run_id, decisions=decisions, note=note).status
