"""Production mode: a prefork Celery worker's metrics reach the web process's /metrics through
PROMETHEUS_MULTIPROC_DIR, and queue depth is read from the real broker at scrape time."""

import time

import pytest

from aspora.celery import app as celery_app
from aspora.tasks import system_probe_task
from skills.models import RunStatus, SkillRun
from skills.services import skill_run_start
from tests.observability.conftest import value
from tests.skills.conftest import context_for

pytestmark = pytest.mark.services


@pytest.fixture
def multiproc_dir(tmp_path, monkeypatch):
    path = tmp_path / "prometheus"
    path.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(path))
    return path


def test_queue_depth_is_read_from_the_broker(transactional_db, scrape, multiproc_dir):
    celery_app.control.purge()
    for _ in range(3):
        system_probe_task.apply_async(kwargs={"reply_group": "system.depth-test"})
    try:
        assert value(scrape(), "aspora_celery_queue_depth", queue="celery") == 3
    finally:
        celery_app.control.purge()
    assert value(scrape(), "aspora_celery_queue_depth", queue="celery") == 0


def test_a_run_in_a_prefork_worker_shows_in_the_web_process_metrics(
    demo, scrape, multiproc_dir, start_worker, settings
):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    celery_app.conf.task_always_eager = False
    start_worker(pool="prefork", env={"PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir)})
    labels = {"domain": "ecm", "skill": "my-tickets", "model": "aspora:offline"}

    run = skill_run_start(context=context_for("sarah"), message="show my tickets", skill_name="my-tickets")
    deadline = time.monotonic() + 60
    while SkillRun.objects.get(pk=run.pk).status not in (RunStatus.SUCCEEDED, RunStatus.FAILED):
        assert time.monotonic() < deadline, "the worker did not finish the run"
        time.sleep(0.2)

    samples = scrape()
    assert value(samples, "aspora_skill_runs_total", **labels, status="succeeded") == 1
    assert value(samples, "aspora_skill_run_duration_seconds_count", **labels) == 1
    assert value(samples, "aspora_skill_run_first_token_seconds_count", **labels) == 1
    assert value(samples, "aspora_tool_call_duration_seconds_count", tool="list_my_tickets", outcome="success") == 1
    assert value(samples, "aspora_model_tokens_total", **labels, direction="input") > 0
    assert sorted(path.name.split("_")[0] for path in multiproc_dir.iterdir()) != []
