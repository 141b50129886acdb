"""The ECM demo spec goes end to end on the offline generator: queued by a PM, generated into a
branch of the ECM pack's repository, gated, reviewed, evaluated, deployed into the live pack and
answered by the registry's new version, as a Slack user would ask it."""

from pathlib import Path

from django.conf import settings as django_settings

from factory.models import Deployment, RunStatus, StageName, StageStatus
from factory.selectors import factory_run_summary
from factory.services import factory_run_queue
from skills.models import RunStatus as SkillRunStatus
from skills.models import Skill, Source
from skills.services import skill_run_start
from tenants.context import Channel
from tests.skills.conftest import context_for, demo, eager_tasks  # noqa: F401 - fixtures

SPEC = Path(django_settings.BASE_DIR) / "factory" / "specs" / "ecm-stale-escalations.md"


def test_the_ecm_spec_becomes_a_live_skill_a_slack_user_can_call(factory_world, django_capture_on_commit_callbacks):
    from tenants.models import User

    with django_capture_on_commit_callbacks(execute=True):
        run = factory_run_queue(
            requester=User.objects.get(username="paula"), spec_text=SPEC.read_text(), spec_name=SPEC.name
        )
    run.refresh_from_db()
    summary = factory_run_summary(run=run)

    assert (run.status, run.stop_reason) == (RunStatus.DEPLOYED, "")
    assert [(s["name"], s["status"]) for s in summary["stages"]] == [
        (StageName.GENERATE, StageStatus.PASSED),
        (StageName.GATE, StageStatus.PASSED),
        (StageName.REVIEW, StageStatus.PASSED),
        (StageName.TEST, StageStatus.PASSED),
        (StageName.APPROVE, StageStatus.SKIPPED),
        (StageName.DEPLOY, StageStatus.PASSED),
    ]
    # Every stage after generate judged the one commit that was deployed.
    assert {s["sha"] for s in summary["stages"]} == {run.head_sha}
    assert summary["tier"] == "medium" and summary["tier_reason"]
    assert run.stages.get(name=StageName.TEST).summary == "2 of 2 evals passed"

    # The pack on disk and the registry both hold the new skill, as the version that was evaluated.
    assert (factory_world / "ecm" / "skills" / "stale-escalations" / "SKILL.md").is_file()
    skill = Skill.objects.select_related("current_version").get(name="stale-escalations")
    deployment = Deployment.objects.get(run=run)
    assert (skill.is_active, skill.current_version.source) == (True, Source.FACTORY)
    assert deployment.skill_version_id == skill.current_version_id
    assert summary["deployment"]["skill"] == "stale-escalations"

    # A Slack user asks in their own words and the new skill answers.
    answer = skill_run_start(context=context_for("omar", Channel.SLACK), message="which escalations have gone stale?")
    answer.refresh_from_db()
    assert (answer.skill.name, answer.status) == ("stale-escalations", SkillRunStatus.SUCCEEDED)
    assert "#1048" in answer.answer


def test_running_the_same_spec_again_changes_nothing_and_says_so(factory_world, django_capture_on_commit_callbacks):
    from tenants.models import User

    paula = User.objects.get(username="paula")
    with django_capture_on_commit_callbacks(execute=True):
        factory_run_queue(requester=paula, spec_text=SPEC.read_text(), spec_name=SPEC.name)
    with django_capture_on_commit_callbacks(execute=True):
        again = factory_run_queue(requester=paula, spec_text=SPEC.read_text(), spec_name=SPEC.name)
    again.refresh_from_db()

    assert again.status == RunStatus.FAILED
    assert again.stop_reason == (
        "Generate failed: The generator changed nothing: the target already holds this change."
    )


def _queued_without_driving(monkeypatch, django_capture_on_commit_callbacks):
    from factory import dispatch
    from tenants.models import User

    monkeypatch.setattr(dispatch, "factory_run_dispatch", lambda run_id: None)
    with django_capture_on_commit_callbacks(execute=True):
        return factory_run_queue(requester=User.objects.get(username="paula"), spec_text=SPEC.read_text())


def test_a_stage_interrupted_by_a_lost_worker_is_redone_and_the_run_finishes(
    factory_world, monkeypatch, django_capture_on_commit_callbacks
):
    from factory.models import FactoryStage
    from factory.pipeline import _run_step, factory_run_drive

    run = _queued_without_driving(monkeypatch, django_capture_on_commit_callbacks)
    _run_step(run, StageName.GENERATE)
    run.refresh_from_db()
    # The worker died in the middle of the gate: its stage row was left running.
    FactoryStage.objects.create(run=run, name=StageName.GATE, status=StageStatus.RUNNING, sha=run.head_sha)

    run = factory_run_drive(run_id=str(run.id))

    assert run.status == RunStatus.DEPLOYED
    gates = list(run.stages.filter(name=StageName.GATE).values_list("status", "summary"))
    assert gates[0] == (StageStatus.FAILED, "Interrupted: the worker running it stopped.")
    assert gates[1][0] == StageStatus.PASSED


def test_a_run_interrupted_three_times_fails_with_that_reason(
    factory_world, monkeypatch, django_capture_on_commit_callbacks
):
    from factory.models import FactoryStage
    from factory.pipeline import _run_step, factory_run_drive

    run = _queued_without_driving(monkeypatch, django_capture_on_commit_callbacks)
    _run_step(run, StageName.GENERATE)
    for _ in range(2):
        FactoryStage.objects.create(run=run, name=StageName.GATE, status=StageStatus.FAILED, summary="Interrupted: x")
    FactoryStage.objects.create(run=run, name=StageName.GATE, status=StageStatus.RUNNING)

    run = factory_run_drive(run_id=str(run.id))

    assert (run.status, run.stop_reason) == (RunStatus.FAILED, "The run was interrupted 3 times and was stopped.")
