"""Graduation: a domain past its threshold of active people is proposed as a product, and the
proposed spec goes through the factory like any other."""

from datetime import timedelta

import pytest
from django.utils import timezone

from factory.graduation import domain_activity_list, graduation_spec_text
from factory.models import RunStatus
from factory.services import factory_run_queue, risk_tiers_default_create
from skills.models import Domain, Skill, SkillRun
from skills.models import RunStatus as SkillRunStatus
from tenants.models import User
from tests.skills.conftest import demo, eager_tasks  # noqa: F401 - fixtures


def _run(username: str, skill: str, *, days_ago: int = 1, status=SkillRunStatus.SUCCEEDED) -> None:
    user = User.objects.get(username=username)
    run = SkillRun.objects.create(
        user=user, team=user.memberships.first().team, tenant=user.tenant, channel="web", message="x",
        skill=Skill.objects.get(name=skill), status=status,
    )  # fmt: skip
    SkillRun.objects.filter(pk=run.pk).update(queued_at=timezone.now() - timedelta(days=days_ago))


@pytest.fixture
def activity(demo, settings):  # noqa: F811
    settings.ASPORA_GRADUATION_THRESHOLD = 3
    SkillRun.objects.all().delete()
    for username in ("sarah", "amir", "priya"):
        _run(username, "my-tickets")
    _run("sarah", "ticket-detail")  # the same person again
    _run("omar", "team-queue", days_ago=31)  # too long ago
    _run("raj", "investigate-alert", status=SkillRunStatus.REFUSED)  # refused runs are not use
    _run("nina", "investigate-alert")


def test_each_domain_counts_its_active_people_against_the_threshold(activity):
    tenant = User.objects.get(username="sarah").tenant
    rows = {
        row.domain.name: (row.active_users, row.ready, row.percent) for row in domain_activity_list(tenant_id=tenant.pk)
    }
    assert rows == {"ecm": (3, True, 100), "fincrime": (1, False, 33), "fraud": (0, False, 0)}


def test_the_dashboard_proposes_graduation_to_a_pm_only_past_the_threshold(activity, client):
    client.force_login(User.objects.get(username="paula"))
    page = client.get("/").content.decode()
    assert 'href="/factory/?graduate=ecm#new-spec"' in page
    assert "?graduate=fincrime" not in page
    client.force_login(User.objects.get(username="sarah"))
    page = client.get("/").content.decode()
    assert "?graduate=ecm" not in page and "ready to graduate" in page


def test_the_proposed_spec_opens_in_the_editor_and_goes_through_the_factory(
    activity, client, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.ASPORA_FACTORY_DIR = tmp_path / "factory"
    settings.ASPORA_FACTORY_DISPATCH = "inline"
    risk_tiers_default_create()
    client.force_login(User.objects.get(username="paula"))
    page = client.get("/factory/?graduate=ecm").content.decode()
    spec = graduation_spec_text(domain=Domain.objects.get(name="ecm"))
    assert "name: ecm-service" in spec and "`my-tickets`" in spec and "customer:" not in spec
    assert "name: ecm-service" in page and "ecm-graduation.md" in page

    with django_capture_on_commit_callbacks(execute=True):
        run = factory_run_queue(requester=User.objects.get(username="paula"), spec_text=spec)
    run.refresh_from_db()
    assert run.status in (RunStatus.WAITING, RunStatus.DEPLOYED), run.stop_reason
    assert run.stages.get(name="test").status == "passed"
