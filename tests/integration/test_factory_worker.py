"""The factory pipeline on real Celery worker processes: a run queued in the portal's process is
driven by a worker through every stage to a live skill, with its progress visible as it goes."""

import shutil
import time

import pytest
from django.conf import settings

from domains.ecm.demo import ecm_demo_seed
from factory.models import FactoryRun, RunStatus, StageStatus
from factory.services import factory_run_queue, risk_tiers_default_create
from skills.models import Domain, Skill
from skills.registry import packs_sync
from skills.services import domain_grants_apply
from tenants.demo import demo_seed
from tenants.models import User

pytestmark = pytest.mark.services
SPEC = settings.BASE_DIR / "factory" / "specs" / "ecm-stale-escalations.md"


def test_a_worker_drives_a_queued_skill_spec_to_a_live_skill(start_worker, tmp_path, settings):
    live = tmp_path / "domains"
    shutil.copytree(settings.ASPORA_DOMAINS_DIR, live, ignore=shutil.ignore_patterns("__pycache__"))
    env = {"ASPORA_DOMAINS_DIR": str(live), "ASPORA_FACTORY_DIR": str(tmp_path / "factory"), "ASPORA_MODEL": ""}
    settings.ASPORA_DOMAINS_DIR, settings.ASPORA_FACTORY_DISPATCH = live, "celery"
    demo_seed(password="pw")
    risk_tiers_default_create()
    packs_sync()
    for domain in Domain.objects.all():
        domain_grants_apply(domain=domain)
    ecm_demo_seed()
    worker = start_worker(env=env, name="factory")

    run = factory_run_queue(requester=User.objects.get(username="paula"), spec_text=SPEC.read_text())
    seen_running = set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        run.refresh_from_db()
        seen_running |= set(run.stages.filter(status=StageStatus.RUNNING).values_list("name", flat=True))
        if run.is_finished:
            break
        time.sleep(0.05)

    assert (run.status, run.stop_reason) == (RunStatus.DEPLOYED, ""), worker.log.read_text()[-3000:]
    assert FactoryRun.objects.get(pk=run.pk).deployments.get().target == "stale-escalations"
    assert Skill.objects.get(name="stale-escalations").is_active
    assert (live / "ecm" / "skills" / "stale-escalations" / "SKILL.md").is_file()
    assert "factory.factory_run_drive" in worker.log.read_text()
    assert seen_running, "no stage was ever seen running: progress is not visible while the run goes"


def test_a_factory_run_whose_worker_child_is_killed_mid_stage_resumes(start_worker, tmp_path, settings):
    import os
    import signal
    import subprocess

    from factory.models import StageName

    settings.ASPORA_FACTORY_DISPATCH = "celery"
    demo_seed(password="pw")
    risk_tiers_default_create()
    worker = start_worker(pool="prefork", env={"ASPORA_FACTORY_DIR": str(tmp_path / "factory")}, name="factory-kill")
    spec = settings.BASE_DIR / "factory" / "specs" / "wealth-portfolio-checker.md"

    run = factory_run_queue(requester=User.objects.get(username="paula"), spec_text=spec.read_text())
    deadline = time.monotonic() + 120
    while not run.stages.filter(name=StageName.TEST, status=StageStatus.RUNNING).exists():
        assert time.monotonic() < deadline, worker.log.read_text()[-3000:]
        time.sleep(0.02)
    child = int(subprocess.check_output(["pgrep", "-P", str(worker.pid)], text=True).split()[0])
    os.kill(child, signal.SIGKILL)  # the worker's process dies in the middle of the test stage

    while FactoryRun.objects.get(pk=run.pk).status != RunStatus.WAITING:
        run.refresh_from_db()
        assert not run.is_finished, run.stop_reason
        assert time.monotonic() < deadline, worker.log.read_text()[-3000:]
        time.sleep(0.05)

    tests = list(run.stages.filter(name=StageName.TEST).values_list("status", "summary"))
    assert tests[0] == (StageStatus.FAILED, "Interrupted: the worker running it stopped.")
    assert tests[-1][0] == StageStatus.PASSED
    assert run.stages.filter(name=StageName.GENERATE).count() == 1  # what was done is not redone
