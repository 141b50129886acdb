"""Reading packs: every problem names the file, the line, the field and what was expected."""

from pathlib import Path

import pytest

from skills.packs import pack_read

ROOT = Path(__file__).resolve().parents[2]
GOOD_SKILL = """---
name: my-tickets
description: Lists the asker's tickets. Use when asked for tickets.
---
Call list_my_tickets and show a table.
"""
GOOD_CONFIG = """domain:
  name: ecm
  description: test pack
  scope: team
skills:
  - name: my-tickets
    path: skills/my-tickets/SKILL.md
    tools: [list_my_tickets]
"""


def _pack(tmp_path: Path, config: str = GOOD_CONFIG, skill: str = GOOD_SKILL) -> Path:
    pack = tmp_path / "ecm"
    (pack / "skills" / "my-tickets").mkdir(parents=True)
    (pack / "aspora.config.yaml").write_text(config)
    (pack / "skills" / "my-tickets" / "SKILL.md").write_text(skill)
    return pack


def _problems(result) -> list[str]:
    return [str(problem) for problem in result.problems]


@pytest.mark.parametrize("domain", ["ecm", "fincrime"])
def test_every_shipped_pack_is_valid(domain):
    assert [str(p) for p in pack_read(ROOT / "domains" / domain).problems] == []


def test_the_shipped_ecm_pack_is_valid():
    result = pack_read(ROOT / "domains" / "ecm")

    assert _problems(result) == []
    assert [s.entry.name for s in result.skills] == [
        "my-tickets", "escalate-shipment", "ticket-detail", "add-note",
        "reassign-ticket", "resolve-ticket", "team-queue", "hand-to-fincrime",
    ]  # fmt: skip
    escalate = result.skills[1]
    assert escalate.entry.tools == ["escalate_ticket"]
    assert escalate.entry.confirm == ["escalate_ticket"]
    assert escalate.instructions.startswith("# Escalate a shipment ticket")


def test_a_bad_skill_name_names_file_line_and_field(tmp_path):
    pack = _pack(tmp_path, skill=GOOD_SKILL.replace("name: my-tickets", "description2: x\nname: My_Tickets"))

    result = pack_read(pack)

    assert result.skills == []
    [problem] = result.problems
    assert problem.file.endswith("ecm/skills/my-tickets/SKILL.md")
    assert problem.line == 3
    assert problem.field == "name"
    assert "should match pattern" in problem.message


def test_a_description_over_1024_characters_is_refused(tmp_path):
    pack = _pack(tmp_path, skill=GOOD_SKILL.replace("Lists the asker's tickets.", "x" * 1100))

    [problem] = pack_read(pack).problems

    assert (problem.line, problem.field) == (3, "description")
    assert "at most 1024 characters" in problem.message


def test_an_unknown_tool_is_refused_with_the_tools_the_domain_offers(tmp_path):
    pack = _pack(tmp_path, config=GOOD_CONFIG.replace("[list_my_tickets]", "[list_my_tickets, wire_money]"))

    result = pack_read(pack)

    assert _problems(result) == [
        f"{pack}/aspora.config.yaml:8: skills[0].tools[1]: unknown tool 'wire_money'; "
        "the domain offers: add_ticket_note, escalate_ticket, hand_to_fincrime, list_my_tickets, "
        "reassign_ticket, resolve_ticket, team_queue, ticket_detail"
    ]
    assert result.skills == []


def test_unknown_settings_and_bad_values_name_their_line(tmp_path):
    config = GOOD_CONFIG + "    timeout_seconds: 0\n    colour: blue\n"

    problems = _problems(pack_read(_pack(tmp_path, config=config)))

    assert problems == [
        f"{tmp_path}/ecm/aspora.config.yaml:9: skills[0].timeout_seconds: Input should be greater than or equal to 1",
        f"{tmp_path}/ecm/aspora.config.yaml:10: skills[0].colour: is not a known setting",
    ]


def test_broken_yaml_names_its_line(tmp_path):
    problems = _problems(pack_read(_pack(tmp_path, config=GOOD_CONFIG.replace("scope: team", "scope: [team"))))

    assert len(problems) == 1
    assert problems[0].startswith(f"{tmp_path}/ecm/aspora.config.yaml:")
    assert "is not valid YAML" in problems[0]


def test_a_missing_config_is_named(tmp_path):
    (tmp_path / "ecm").mkdir()

    assert _problems(pack_read(tmp_path / "ecm")) == [
        f"{tmp_path}/ecm/aspora.config.yaml: missing: every pack needs an aspora.config.yaml"
    ]


def test_a_skill_without_frontmatter_is_refused(tmp_path):
    [problem] = pack_read(_pack(tmp_path, skill="Just some text.\n")).problems

    assert (problem.line, problem.field) == (1, "frontmatter")


@pytest.mark.parametrize("frontmatter_name", ["my-tickets-v2", "other"])
def test_the_file_name_must_match_its_config_entry(tmp_path, frontmatter_name):
    pack = _pack(tmp_path, skill=GOOD_SKILL.replace("name: my-tickets", f"name: {frontmatter_name}"))

    [problem] = pack_read(pack).problems

    assert problem.field == "name"
    assert problem.message == f"is '{frontmatter_name}' but the config names it 'my-tickets'"


def test_a_skill_folder_from_another_agent_skills_client_imports_unchanged(tmp_path):
    pack = _pack(tmp_path)
    portable = pack / "skills" / "pdf-summary"
    portable.mkdir()
    text = (
        "---\nname: pdf-summary\ndescription: Summarises a PDF the user pastes. Use for PDF questions.\n"
        "license: MIT\ncompatibility: Needs nothing.\nmetadata:\n  author: someone\nallowed-tools: Read Grep\n"
        "x-vendor-field: kept\n---\n# Summarise\nRead it and summarise.\n"
    )
    (portable / "SKILL.md").write_text(text)

    result = pack_read(pack)

    assert _problems(result) == []
    imported = next(s for s in result.skills if s.entry.name == "pdf-summary")
    assert imported.content == text
    assert imported.frontmatter["allowed-tools"] == "Read Grep"
    assert imported.frontmatter["x-vendor-field"] == "kept"
    assert imported.entry.tools == []
    assert imported.entry.path == "skills/pdf-summary/SKILL.md"
