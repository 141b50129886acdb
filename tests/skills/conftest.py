import pytest
from celery.result import allow_join_result

from aspora.celery import app as celery_app
from domains.ecm.demo import ecm_demo_seed
from domains.fincrime.demo import fincrime_demo_seed
from domains.fraud.demo import fraud_demo_seed
from skills.models import Domain
from skills.registry import packs_sync
from skills.services import domain_grants_apply
from tenants.context import Channel
from tenants.demo import demo_seed
from tenants.models import User
from tenants.services import asker_context_build


@pytest.fixture
def eager_tasks():
    """Run Celery tasks in-process, as the embedded default does, whatever the mode of the suite."""
    previous = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = True, True
    # An eager task sets Celery's process-wide "a join would block" flag and restores it on return;
    # two eager tasks in different threads (a Slack flood) can restore each other's value and leave
    # it set, and a later test's `.get()` then fails with "Never call result.get() within a task!".
    # `allow_join_result` puts back on exit the value the flag had when the test began.
    with allow_join_result():
        yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = previous


@pytest.fixture
def demo(transactional_db, eager_tasks, settings):
    """The demo world with the shipped packs and ECM tickets, committed so tool threads see it."""
    settings.ASPORA_MODEL = ""
    demo_seed(password="demo-pw-for-tests")
    reports = packs_sync()
    assert [problem for report in reports for problem in report.problems] == []
    for domain in Domain.objects.all():
        domain_grants_apply(domain=domain)
    ecm_demo_seed(count=40)
    fincrime_demo_seed(count=40)
    fraud_demo_seed(count=300)


def context_for(username: str, channel: str = Channel.WEB, **extra):
    return asker_context_build(user=User.objects.get(username=username), channel=channel, extra=extra)
