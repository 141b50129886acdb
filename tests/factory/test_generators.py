import shutil
from pathlib import Path

import pytest
import yaml

from factory.generators import SpecIncomplete, generate
from factory.generators.skill import config_with_entry
from factory.specs import spec_parse
from skills.evals import skill_candidate_evaluate
from skills.packs import pack_read
from tests.skills.conftest import demo, eager_tasks  # noqa: F401 - shared fixtures

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "factory" / "specs"


def _ecm_copy(tmp_path: Path) -> Path:
    pack = tmp_path / "ecm"
    shutil.copytree(ROOT / "domains" / "ecm", pack, ignore=shutil.ignore_patterns("__pycache__"))
    return pack


def _skill_spec(**changes):
    text = (SPECS / "ecm-stale-escalations.md").read_text()
    for old, new in changes.items():
        text = text.replace(old, new)
    return spec_parse(text, source="ecm-stale-escalations.md")


# --- skills ------------------------------------------------------------------------------------


def test_the_skill_lands_in_the_pack_and_validates(tmp_path):
    pack = _ecm_copy(tmp_path)
    before = (pack / "aspora.config.yaml").read_text()

    generation = generate(_skill_spec(), worktree=pack)

    assert generation.files == ["skills/stale-escalations/SKILL.md", "aspora.config.yaml"]
    assert generation.summary == (
        "Added the skill stale-escalations in the ecm pack: tools team_queue, 2 eval examples."
    )
    read = pack_read(pack)
    assert read.problems == []
    skill = next(s for s in read.skills if s.entry.name == "stale-escalations")
    assert skill.entry.tools == ["team_queue"]
    assert skill.entry.roles == ["manager", "ops_manager"]
    assert skill.entry.eval_as == "omar"
    assert [e.ask for e in skill.entry.examples] == [
        "which escalations have gone stale?",
        "escalated tickets still waiting on me",
    ]
    assert skill.instructions.startswith("# Stale escalations\n\nYou help an ECM manager")
    after = (pack / "aspora.config.yaml").read_text()
    assert after.startswith(before.rstrip("\n") + "\n\n  - name: stale-escalations\n")  # the rest untouched
    assert len(read.skills) == 9


def test_generating_again_replaces_the_entry_instead_of_adding_one(tmp_path):
    pack = _ecm_copy(tmp_path)
    generate(_skill_spec(), worktree=pack)

    generation = generate(_skill_spec(**{"timeout_seconds: 60": "timeout_seconds: 90"}), worktree=pack)

    config = yaml.safe_load((pack / "aspora.config.yaml").read_text())
    entries = [s for s in config["skills"] if s["name"] == "stale-escalations"]
    assert generation.summary.startswith("Updated the skill stale-escalations")
    assert [e["timeout_seconds"] for e in entries] == [90]
    assert pack_read(pack).problems == []


def test_an_entry_in_the_middle_of_the_list_is_replaced_in_place():
    text = (
        "domain:\n  name: ecm\n\nskills:\n  - name: a\n    path: skills/a/SKILL.md\n    tools: [x]\n\n"
        "  # b is the one\n  - name: b\n    path: skills/b/SKILL.md\n\n  - name: c\n    path: skills/c/SKILL.md\n"
        "# trailing comment\n"
    )

    edited = config_with_entry(text, {"name": "b", "path": "skills/b/SKILL.md", "tools": ["y"]})

    assert edited == text.replace("    path: skills/b/SKILL.md\n", "    path: skills/b/SKILL.md\n    tools: [y]\n")


def test_an_unknown_tool_stops_with_the_toolset_named(tmp_path):
    pack = _ecm_copy(tmp_path)
    spec = _skill_spec(**{"tools: [team_queue]": "tools: [team_queue, close_stale_tickets]"})

    with pytest.raises(SpecIncomplete) as caught:
        generate(spec, worktree=pack)

    assert caught.value.missing == [
        "The tool 'close_stale_tickets' is not in the ecm toolset, which offers add_ticket_note, escalate_ticket, "
        "hand_to_fincrime, list_my_tickets, reassign_ticket, resolve_ticket, team_queue, ticket_detail."
    ]
    assert not (pack / "skills" / "stale-escalations").exists()


def test_an_unknown_domain_stops_with_the_known_domains_named(tmp_path):
    spec = _skill_spec(**{"domain: ecm": "domain: logistics"})

    with pytest.raises(SpecIncomplete) as caught:
        generate(spec, worktree=_ecm_copy(tmp_path))

    assert caught.value.missing == [
        "The domain 'logistics' does not exist: the known domains are ecm, fincrime, fraud."
    ]


def test_a_skill_that_does_not_validate_leaves_the_pack_as_it_was(tmp_path):
    pack = _ecm_copy(tmp_path)
    before = (pack / "aspora.config.yaml").read_text()
    spec = _skill_spec(**{"limits: {request_limit: 4, tool_calls_limit: 2}": "limits: {request_limit: 4}"})
    spec.limits.request_limit = 500  # past what skills.packs accepts

    with pytest.raises(SpecIncomplete) as caught:
        generate(spec, worktree=pack)

    assert caught.value.missing[0].startswith("The generated skill does not validate: ")
    assert "skills[8].limits.request_limit: Input should be less than or equal to 100" in caught.value.missing[0]
    assert (pack / "aspora.config.yaml").read_text() == before
    assert not (pack / "skills" / "stale-escalations" / "SKILL.md").exists()


def test_the_generated_skill_passes_its_evals_on_the_offline_model(demo, tmp_path):  # noqa: F811
    pack = _ecm_copy(tmp_path)
    generate(_skill_spec(), worktree=pack)

    results = skill_candidate_evaluate(pack=pack, skill_name="stale-escalations", note="test")

    assert [(r.ask, r.user, r.problems) for r in results] == [
        ("which escalations have gone stale?", "omar", []),
        ("escalated tickets still waiting on me", "omar", []),
    ]
