"""Transcript retention per domain: the purge blanks what is past its period and nothing else."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from skills.governance import PURGED, transcripts_purge
from skills.models import Domain, RunStatus, SkillRun
from skills.packs import domain_governance
from skills.services import skill_run_start
from tests.skills.conftest import context_for


def _run_aged(*, user: str, skill: str, message: str, days: float) -> SkillRun:
    run = skill_run_start(context=context_for(user), message=message, skill_name=skill)
    SkillRun.objects.filter(pk=run.pk).update(queued_at=timezone.now() - timedelta(days=days))
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.events.exists() and run.answer
    return run


def test_runs_just_outside_their_domains_period_are_blanked_and_those_just_inside_kept(demo):
    # ecm keeps 90 days, fincrime 365 (their aspora.config.yaml).
    assert domain_governance(Domain.objects.get(name="ecm").config).transcript_retention_days == 90
    assert domain_governance(Domain.objects.get(name="fincrime").config).transcript_retention_days == 365
    ecm_old = _run_aged(user="sarah", skill="my-tickets", message="show my tickets", days=90.01)
    ecm_recent = _run_aged(user="sarah", skill="my-tickets", message="show my tickets", days=89.99)
    fincrime_mid = _run_aged(user="raj", skill="show-alerts", message="show alerts", days=200)
    fincrime_old = _run_aged(user="raj", skill="show-alerts", message="show alerts", days=365.01)

    report = transcripts_purge()

    assert (report.runs, report.by_domain) == (2, {"ecm": 1, "fincrime": 1})
    for run in (ecm_old, fincrime_old):
        run.refresh_from_db()
        assert (run.message, run.answer, run.message_history, run.events.count()) == (PURGED, "", [], 0)
        # Who ran what, when, and what it cost stay for usage and the audit trail.
        assert run.status == RunStatus.SUCCEEDED and run.user.username in ("sarah", "raj") and run.finished_at
    for run in (ecm_recent, fincrime_mid):
        run.refresh_from_db()
        assert run.message != PURGED and run.answer and run.events.exists()
    assert transcripts_purge().runs == 0  # idempotent


def test_a_run_waiting_for_confirmation_is_never_purged_and_a_domain_can_shorten_its_period(demo):
    ecm = Domain.objects.get(name="ecm")
    ecm.config = {**ecm.config, "governance": {"transcript_retention_days": 7}}
    ecm.save()
    waiting = skill_run_start(
        context=context_for("sarah"), message="escalate ticket 1043 because customs", skill_name="escalate-shipment"
    )
    waiting.refresh_from_db()
    assert waiting.status == RunStatus.AWAITING_CONFIRMATION
    SkillRun.objects.filter(pk=waiting.pk).update(queued_at=timezone.now() - timedelta(days=30))
    week_old = _run_aged(user="sarah", skill="my-tickets", message="show my tickets", days=7.5)

    assert transcripts_purge().by_domain == {"ecm": 1}
    week_old.refresh_from_db()
    waiting.refresh_from_db()
    assert week_old.message == PURGED
    assert waiting.message != PURGED and waiting.message_history


def test_the_purge_is_on_the_beat_schedule_and_runs_as_a_task(demo):
    from skills.tasks import transcripts_purge_task

    entry = settings.CELERY_BEAT_SCHEDULE["skills-transcripts-purge"]
    assert entry["task"] == transcripts_purge_task.name == "skills.transcripts_purge"
    _run_aged(user="sarah", skill="my-tickets", message="show my tickets", days=120)
    assert transcripts_purge_task.delay().get() == 1


@pytest.mark.parametrize(
    ("governance", "problem"),
    [
        ({"redact": ["card", "ssn"]}, "redact"),
        ({"transcript_retention_days": 0}, "transcript_retention_days"),
        ({"keep_forever": True}, "keep_forever"),
    ],
)
def test_a_bad_governance_section_is_a_pack_problem_naming_the_field(tmp_path, governance, problem):
    import yaml

    from skills.packs import pack_read

    pack = tmp_path / "demo"
    (pack / "skills" / "hello").mkdir(parents=True)
    (pack / "skills" / "hello" / "SKILL.md").write_text("---\nname: hello\ndescription: Says hello.\n---\nSay hello.\n")
    config = {
        "domain": {"name": "demo", "governance": governance},
        "skills": [{"name": "hello", "path": "skills/hello/SKILL.md"}],
    }
    (pack / "aspora.config.yaml").write_text(yaml.safe_dump(config))

    read = pack_read(pack)

    assert read.config is None
    assert any(problem in f"{p.field} {p.message}" for p in read.problems), read.problems


def test_an_exported_pack_keeps_its_domains_governance(demo, tmp_path):
    from skills.packs import pack_read
    from skills.registry import packs_export

    packs_export(out=tmp_path)

    exported = pack_read(tmp_path / "fincrime").config.domain.governance
    assert exported.transcript_retention_days == 365
    assert exported.redact == ["card", "iban", "account", "phone", "email", "passport"]
