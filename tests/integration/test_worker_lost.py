"""A Celery worker process killed in the middle of a run: the run is retried, never left running."""

import os
import signal
import subprocess
import time

import pytest

from domains.ecm.demo import ecm_demo_seed
from skills.models import Domain, RunStatus, SkillRun
from skills.registry import packs_sync
from skills.services import domain_grants_apply, skill_run_start
from tenants.context import Channel
from tenants.demo import demo_seed
from tenants.models import User
from tenants.services import asker_context_build
from tests.loopback import OpenAIChatServer, Reply

pytestmark = pytest.mark.services


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_run_whose_worker_child_is_killed_is_redelivered_and_finishes(start_worker):
    demo_seed(password="pw")
    packs_sync()
    for domain in Domain.objects.all():
        domain_grants_apply(domain=domain)
    ecm_demo_seed()
    requests = {"n": 0}

    def slow_first_time(body: dict) -> Reply:
        requests["n"] += 1
        return Reply(text="Here are your tickets.", delay=30 if requests["n"] == 1 else 0)

    with OpenAIChatServer(slow_first_time) as server:
        env = {"ASPORA_MODEL": "openai:gpt-4o-mini", "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-test"}
        worker = start_worker(pool="prefork", env=env)
        context = asker_context_build(user=User.objects.get(username="sarah"), channel=Channel.API)
        run = skill_run_start(context=context, message="show my tickets", skill_name="my-tickets")

        _wait_for(lambda: requests["n"] == 1, 30, "the model request of the first delivery")
        assert SkillRun.objects.get(pk=run.pk).status == RunStatus.RUNNING
        child = int(subprocess.check_output(["pgrep", "-P", str(worker.pid)], text=True).split()[0])
        os.kill(child, signal.SIGKILL)

        finished = _wait_for(
            lambda: SkillRun.objects.filter(pk=run.pk, finished_at__isnull=False).first(), 60, "the run to finish"
        )

    assert finished.status == RunStatus.SUCCEEDED, worker.log.read_text()[-3000:]
    assert finished.attempts == 2
    assert finished.answer == "Here are your tickets."
