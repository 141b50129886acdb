"""Two Celery worker processes executing runs at once append to one linear, verifiable chain."""

import time

import pytest

from audit.models import AuditEvent
from audit.services import audit_chain_verify
from domains.ecm.demo import ecm_demo_seed
from skills.models import Domain, SkillRun
from skills.registry import packs_sync
from skills.services import domain_grants_apply, skill_run_start
from tenants.context import Channel
from tenants.demo import demo_seed
from tenants.models import User
from tenants.services import asker_context_build
from tests.integration.conftest import start_worker  # noqa: F401 - shared fixture

pytestmark = pytest.mark.services


def test_runs_on_two_worker_processes_leave_one_linear_chain(start_worker, settings):  # noqa: F811
    demo_seed(password=None)
    packs_sync()
    for domain in Domain.objects.all():
        domain_grants_apply(domain=domain)
    ecm_demo_seed(count=20)
    workers = [start_worker(name=f"audit-{n}", env={"ASPORA_MODEL": ""}) for n in range(2)]

    runs = [
        skill_run_start(
            context=asker_context_build(user=User.objects.get(username=name), channel=Channel.API),
            message="show my tickets",
            skill_name="my-tickets",
        )
        for name in ("sarah", "amir", "priya") * 2
    ]
    deadline = time.monotonic() + 120
    while SkillRun.objects.filter(pk__in=[r.pk for r in runs], finished_at__isnull=True).exists():
        assert time.monotonic() < deadline, "\n".join(w.log.read_text()[-2000:] for w in workers)
        time.sleep(0.1)

    for run in runs:
        rows = AuditEvent.objects.filter(object_id=str(run.pk)).order_by("seq")
        actions = list(rows.values_list("action", flat=True))
        assert actions == ["run.started", "run.tool_call", "run.finished"], actions
    seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) == 18
    times = list(AuditEvent.objects.order_by("seq").values_list("occurred_at", flat=True))
    assert times == sorted(times)
    assert audit_chain_verify().ok
