"""Celery tasks of the Skills Executor. They take ids and are safe to run twice."""

import logging

from celery import shared_task
from celery.signals import worker_init
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from skills.models import RunStatus, SkillRun

logger = logging.getLogger(__name__)
MAX_DELIVERIES = 3
# A run whose database went away (a restart, a failover) is tried again this often, this many times.
DATABASE_RETRY_SECONDS = 5
DATABASE_RETRIES = 12


@worker_init.connect
def _executor_preload(**kwargs) -> None:
    """Import the executor (pydantic-ai: ~1 s) once in the worker's parent, before it forks, not in
    each child's first run; then freeze what start-up loaded (aspora/runtime.py)."""
    import skills.executor  # noqa: F401
    from aspora.runtime import startup_objects_freeze

    startup_objects_freeze()


# Nobody waits for a run's task result (the run's own record and events are its result): storing
# one cost a Redis write in the worker and a result subscription in every process that queued it.
@shared_task(bind=True, name="skills.skill_run_execute", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def skill_run_execute_task(self, run_id: str, decisions: dict | None = None, note: str = "") -> str | None:
    try:
        return _run_execute(run_id, decisions, note)
    except (OperationalError, InterfaceError) as exc:
        # Without its database the run can neither go on nor record that it failed: try it again
        # once the database is back (a redelivery, bounded by MAX_DELIVERIES), rather than leave it
        # `running` with nobody executing it.
        logger.warning("run %s lost its database (%s); retrying in %d s", run_id, exc, DATABASE_RETRY_SECONDS)
        raise self.retry(exc=exc, countdown=DATABASE_RETRY_SECONDS, max_retries=DATABASE_RETRIES) from exc


def _run_execute(run_id: str, decisions: dict | None, note: str) -> str | None:
    from skills.executor import skill_run_execute, skill_run_load

    run = skill_run_load(run_id=run_id)
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
    return skill_run_execute(run=run, decisions=decisions, note=note).status


@shared_task(name="skills.skill_runs_sweep", ignore_result=True)
def skill_runs_sweep_task() -> dict[str, int]:
    """Every minute (CELERY_BEAT_SCHEDULE): fail the runs no worker will finish."""
    from skills.services import skill_runs_sweep

    swept = skill_runs_sweep()
    if any(swept.values()):
        logger.warning("swept stuck runs: %s", swept)
    return swept


@shared_task(name="skills.transcripts_purge", ignore_result=True)
def transcripts_purge_task() -> int:
    """Nightly (CELERY_BEAT_SCHEDULE): blank run transcripts past their domain's retention."""
    from skills.governance import transcripts_purge

    return transcripts_purge().runs
