"""Packs on disk ⇄ database: versions, broken edits that keep the last good version, reload."""

import re
import shutil
import threading
import time
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from skills.models import Skill, SkillVersion, Source
from skills.packs import pack_read
from skills.registry import pack_sync, packs_export, packs_sync, packs_watch
from tests.factories import user_make

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def packs(tmp_path) -> Path:
    shutil.copytree(
        ROOT / "domains" / "ecm", tmp_path / "ecm", ignore=shutil.ignore_patterns("*.py", "__pycache__", "migrations")
    )
    return tmp_path


def _skill_file(packs: Path) -> Path:
    return packs / "ecm" / "skills" / "my-tickets" / "SKILL.md"


def _live(name: str) -> SkillVersion:
    return Skill.objects.select_related("current_version").get(name=name).current_version


def test_sync_imports_a_pack_once_and_versions_each_change(db, packs):
    first = pack_sync(path=packs / "ecm")
    again = pack_sync(path=packs / "ecm")
    _skill_file(packs).write_text(_skill_file(packs).read_text().replace("short table", "compact table"))
    edited = pack_sync(path=packs / "ecm")

    assert first.created[:2] == ["my-tickets", "escalate-shipment"]
    assert len(first.created) == 8
    assert (again.created, again.updated, again.unchanged) == ([], [], first.created)
    assert (edited.updated, len(edited.unchanged)) == (["my-tickets"], 7)
    live = _live("my-tickets")
    assert live.number == 2
    assert "compact table" in live.instructions
    assert live.source == Source.FILE
    assert SkillVersion.objects.filter(skill__name="my-tickets").count() == 2


def test_a_config_only_change_is_a_new_version_too(db, packs):
    pack_sync(path=packs / "ecm")
    config = packs / "ecm" / "aspora.config.yaml"
    text = config.read_text()
    config.write_text(text.replace("limits: {request_limit: 6, tool_calls_limit: 4}", "limits: {request_limit: 3}"))

    report = pack_sync(path=packs / "ecm")

    assert report.updated == ["my-tickets"]
    assert _live("my-tickets").config["limits"] == {
        "request_limit": 3,
        "tool_calls_limit": None,
        "total_tokens_limit": None,
    }


def test_a_broken_edit_is_rejected_and_the_last_good_version_stays_live(db, packs):
    pack_sync(path=packs / "ecm")
    _skill_file(packs).write_text(_skill_file(packs).read_text().replace("name: my-tickets", "name: My Tickets"))

    report = pack_sync(path=packs / "ecm")

    assert [f"{p.line}:{p.field}" for p in report.problems] == ["2:name"]
    assert report.problems[0].file.endswith("my-tickets/SKILL.md")
    assert "escalate-shipment" in report.unchanged and "my-tickets" not in report.unchanged
    assert _live("my-tickets").number == 1


def test_sync_domains_exits_non_zero_naming_each_problem_and_still_loads_the_good_packs(db, packs, capsys):
    notes = packs / "notes" / "skills" / "note-taker"
    notes.mkdir(parents=True)
    (packs / "notes" / "aspora.config.yaml").write_text("domain:\n  name: notes\n")
    (notes / "SKILL.md").write_text(
        "---\nname: note-taker\ndescription: Takes notes. Use for notes.\n---\nTake notes.\n"
    )
    (packs / "broken").mkdir()
    (packs / "broken" / "aspora.config.yaml").write_text("domain:\n  name: broken\n  scope: galaxy\n")

    with pytest.raises(CommandError, match=r"1 problem\(s\) in the packs above"):
        call_command("sync_domains", str(packs / "broken"), str(packs / "ecm"), str(packs / "notes"))

    err = capsys.readouterr().err
    assert f"{packs}/broken/aspora.config.yaml:3: domain.scope: Input should be 'user', 'team' or 'tenant'" in err
    assert Skill.objects.filter(domain__name="notes").get().name == "note-taker"
    assert Skill.objects.filter(domain__name="ecm").count() == 8
    assert not Skill.objects.filter(domain__name="broken").exists()


def test_export_writes_packs_that_read_back_identically(db, packs, tmp_path):
    packs_sync([packs / "ecm"])
    out = tmp_path / "exported"

    packs_export(out=out)

    result = pack_read(out / "ecm")
    assert [str(p) for p in result.problems] == []
    assert {s.entry.name: s.sha256 for s in result.skills} == {
        name: sha for name, sha in Skill.objects.values_list("name", "current_version__sha256")
    }


def test_the_watcher_imports_an_edit_without_a_restart(transactional_db, packs):
    packs_sync([packs / "ecm"])
    stop, imported = threading.Event(), threading.Event()
    reports = []

    def on_report(report):
        reports.append(report)
        if report.updated:
            imported.set()

    watcher = threading.Thread(
        target=packs_watch, kwargs={"root": packs, "stop_event": stop, "on_report": on_report}, daemon=True
    )
    watcher.start()
    time.sleep(0.5)  # let the watcher arm before the edit

    _skill_file(packs).write_text(_skill_file(packs).read_text() + "\nAlways be brief.\n")
    imported.wait(timeout=10)
    stop.set()
    watcher.join(timeout=5)

    assert [r.updated for r in reports if r.updated] == [["my-tickets"]]
    assert _live("my-tickets").number == 2
    assert _live("my-tickets").instructions.endswith("Always be brief.")  # how fast: bench/hot_reload.py


# --- the admin ------------------------------------------------------------------------------


@pytest.fixture
def ops_admin(client, db, packs):
    packs_sync([packs / "ecm"])
    client.force_login(user_make("olive", is_staff=True, is_superuser=True))
    return client


def _admin_form(skill: Skill, **changes) -> dict:
    import yaml

    version = skill.current_version
    settings = {k: v for k, v in version.config.items() if k != "name"}
    return {
        "is_active": "on",
        "content": version.content,
        "settings_yaml": yaml.safe_dump(settings),
        "note": "",
        "versions-TOTAL_FORMS": "0",
        "versions-INITIAL_FORMS": "0",
        **changes,
    }


def test_an_admin_edit_becomes_a_new_live_version_with_its_author(ops_admin):
    skill = Skill.objects.get(name="my-tickets")
    content = skill.current_version.content.replace("short table", "table")

    response = ops_admin.post(
        reverse("admin:skills_skill_change", args=[skill.pk]),
        _admin_form(skill, content=content, note="shorter"),
        follow=True,
    )

    live = _live("my-tickets")
    assert response.status_code == 200
    assert "My-tickets is live at v2." in response.content.decode()
    assert (live.number, live.source, live.author.username, live.note) == (2, "admin", "olive", "shorter")


def test_a_broken_admin_edit_shows_what_is_wrong_and_changes_nothing(ops_admin):
    skill = Skill.objects.get(name="my-tickets")
    form = _admin_form(skill, settings_yaml="tools: [list_my_tickets, drop_tables]\n")

    response = ops_admin.post(reverse("admin:skills_skill_change", args=[skill.pk]), form)

    assert response.status_code == 200
    assert "unknown tool(s) drop_tables" in response.content.decode()
    assert _live("my-tickets").number == 1


def test_the_admin_shows_a_preview_a_diff_and_rolls_back_in_one_click(ops_admin):
    skill = Skill.objects.get(name="my-tickets")
    v1 = skill.current_version
    ops_admin.post(
        reverse("admin:skills_skill_change", args=[skill.pk]),
        _admin_form(skill, content=v1.content.replace("short table", "one-line list")),
    )

    page = ops_admin.get(reverse("admin:skills_skill_change", args=[skill.pk])).content.decode()
    diff_html = ops_admin.get(reverse("admin:skills_skill_diff", args=[skill.pk, v1.pk])).content.decode()
    diff = re.sub(r"<[^>]+>", "", diff_html).replace("&nbsp;", " ")
    rolled = ops_admin.post(reverse("admin:skills_skill_rollback", args=[skill.pk, v1.pk]), follow=True)

    assert "<h1>My tickets</h1>" in page
    assert "Answer with a one-line list" in diff
    assert "Answer with a short table" in diff
    assert "My-tickets rolled back: v1 is live." in rolled.content.decode()
    assert _live("my-tickets") == v1


def test_staff_without_change_permission_cannot_roll_back(client, db, packs):
    packs_sync([packs / "ecm"])
    skill = Skill.objects.get(name="my-tickets")
    client.force_login(user_make("viewer", is_staff=True))

    response = client.post(reverse("admin:skills_skill_rollback", args=[skill.pk, skill.current_version.pk]))

    assert response.status_code == 403


def test_a_teams_change_grant_on_a_domain_lets_its_staff_edit_that_domains_skills_only(client, demo):
    from skills.models import Domain
    from tenants.models import User

    olivia = User.objects.get(username="olivia")  # ops manager in ECM managers: granted change on ecm
    skill = Skill.objects.get(name="my-tickets")
    other = Domain.objects.create(name="payments", description="")
    outsider_skill = Skill.objects.create(domain=other, name="payout-report")
    client.force_login(olivia)

    listed = client.get(reverse("admin:skills_skill_changelist")).content.decode()
    edited = client.post(
        reverse("admin:skills_skill_change", args=[skill.pk]),
        _admin_form(skill, content=skill.current_version.content.replace("short table", "table")),
    )
    foreign = client.get(reverse("admin:skills_skill_change", args=[outsider_skill.pk]))

    assert "my-tickets" in listed and "payout-report" not in listed
    assert edited.status_code == 302
    assert _live("my-tickets").author == olivia
    assert foreign.status_code == 302  # the admin treats an object you may not see as missing
    client.force_login(User.objects.get(username="raj"))
    assert client.get(reverse("admin:skills_skill_change", args=[skill.pk])).status_code == 302
