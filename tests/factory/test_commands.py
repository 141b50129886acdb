"""factory_run and factory_approve, as a PM and an approver use them from a terminal."""

import json
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command

from factory.deployers import deployment_rollback
from factory.models import Deployment, DeploymentStatus, FactoryRun, RunStatus
from skills.models import Skill
from skills.services import NoSkillMatchedError, skill_run_start
from tenants.context import Channel
from tests.skills.conftest import context_for, demo, eager_tasks  # noqa: F401 - fixtures

SPECS = Path(django_settings.BASE_DIR) / "factory" / "specs"


def test_factory_run_wait_json_prints_the_whole_run(factory_world, capsys):
    call_command("factory_run", "--spec", str(SPECS / "ecm-stale-escalations.md"), "--as", "paula", "--wait", "--json")
    out, err = capsys.readouterr()
    run = json.loads(out)

    assert run["status"] == "deployed" and run["tier"] == "medium"
    assert run["tier_reason"].startswith("medium")
    assert [(s["name"], s["status"]) for s in run["stages"]] == [
        ("generate", "passed"),
        ("gate", "passed"),
        ("review", "passed"),
        ("test", "passed"),
        ("approve", "skipped"),
        ("deploy", "passed"),
    ]
    assert all(len(s["sha"]) == 40 and s["duration_ms"] is not None for s in run["stages"])
    assert run["deployment"]["skill"] == "stale-escalations"
    assert "queued factory run" in err and "deployed stale-escalations" in err


def test_factory_run_refuses_a_spec_of_the_other_kind_and_unknown_people(factory_world):
    with pytest.raises(CommandError, match="is a skill spec, not a product spec"):
        call_command(
            "factory_run", "--spec", str(SPECS / "ecm-stale-escalations.md"), "--kind", "product", "--as", "paula"
        )
    with pytest.raises(CommandError, match="No active user 'mallory'"):
        call_command("factory_run", "--spec", str(SPECS / "ecm-stale-escalations.md"), "--as", "mallory")
    with pytest.raises(CommandError, match="Only product managers, ops managers and admins"):
        call_command("factory_run", "--spec", str(SPECS / "ecm-stale-escalations.md"), "--as", "sarah")
    assert not FactoryRun.objects.exists()


def test_a_broken_spec_names_the_line_and_field(factory_world, tmp_path):
    spec = tmp_path / "broken.md"
    spec.write_text((SPECS / "ecm-stale-escalations.md").read_text().replace("domain: ecm", "domain: ECM!"))
    with pytest.raises(CommandError) as error:
        call_command("factory_run", "--spec", str(spec), "--as", "paula")
    assert str(error.value).endswith(
        "broken.md:5: domain: must be lowercase letters and digits joined by single hyphens (like wealth-checker), "
        "not 'ECM!'"
    )


def test_factory_approve_refuses_a_stale_sha(factory_world):
    with pytest.raises(CommandError, match="No factory run 'abc'"):
        call_command("factory_approve", "abc", "--sha", "0" * 40, "--as", "olivia")


def test_rolling_back_a_new_skill_takes_it_out_of_service(factory_world, capsys):
    call_command("factory_run", "--spec", str(SPECS / "ecm-stale-escalations.md"), "--as", "paula", "--wait")
    deployment = Deployment.objects.get()

    deployment_rollback(deployment=deployment)

    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.ROLLED_BACK
    assert Skill.objects.get(name="stale-escalations").is_active is False
    assert not (factory_world / "ecm" / "skills" / "stale-escalations" / "SKILL.md").exists()
    assert "stale-escalations:" not in (factory_world / "ecm" / "aspora.config.yaml").read_text()
    with pytest.raises(NoSkillMatchedError):
        skill_run_start(context=context_for("omar", Channel.SLACK), message="which escalations have gone stale?")
    assert FactoryRun.objects.get().status == RunStatus.DEPLOYED
