"""A run whose task meets a database outage is tried again, not left `pending` or `running`.

The task level of the PostgreSQL drill (test_postgres_restart.py), made deterministic: the outage
is the first database call of the task failing the way a restarted server fails it."""

from unittest import mock

from django.db import OperationalError

from skills import executor
from skills.models import RunStatus
from skills.services import skill_run_start
from skills.tasks import skill_run_execute_task
from tests.skills.conftest import context_for, demo, eager_tasks  # noqa: F401 - fixtures used below


def test_a_run_whose_database_went_away_is_retried_and_finishes(demo):  # noqa: F811 - the fixture
    with mock.patch.object(skill_run_execute_task, "delay"):  # queued, not executed yet
        run = skill_run_start(context=context_for("sarah"), message="show my tickets", skill_name="my-tickets")
    loads = []
    real_load = executor.skill_run_load

    def load_after_a_restart(*, run_id):
        loads.append(run_id)
        if len(loads) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real_load(run_id=run_id)

    with mock.patch.object(executor, "skill_run_load", load_after_a_restart):
        # Eager here: the retry runs at once (a worker waits DATABASE_RETRY_SECONDS first).
        skill_run_execute_task.apply(args=[str(run.id)], throw=False)

    run.refresh_from_db()
    assert len(loads) == 2
    assert (run.status, run.attempts, run.error) == (RunStatus.SUCCEEDED, 1, "")
    assert run.events.last().type == "run.final"
