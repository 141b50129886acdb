"""A skill can be evaluated before it is live, and goes live as the very version evaluated."""

import shutil

from skills.evals import skill_candidate_evaluate
from skills.models import Skill, Source
from skills.registry import pack_sync
from skills.selectors import skill_list_for_context
from tests.skills.conftest import context_for, demo, eager_tasks  # noqa: F401 - fixtures

CANDIDATE_ENTRY = """
  - name: breaching-tickets
    path: skills/breaching-tickets/SKILL.md
    requires_context: [user, team]
    tools: [list_my_tickets]
    roles: [field_agent, manager]
    eval_as: sarah
    examples:
      - ask: which tickets are breaching their SLA right now
        tools: [list_my_tickets]
        facts: ["#1044"]
"""
CANDIDATE_SKILL = """---
name: breaching-tickets
description: Lists the asker's tickets that breach or are about to breach their SLA.
---
List the asker's open tickets with list_my_tickets and show only those whose SLA is breached.
"""


def _pack_with_candidate(tmp_path, settings):
    pack = tmp_path / "ecm"
    shutil.copytree(settings.ASPORA_DOMAINS_DIR / "ecm", pack)
    config = pack / "aspora.config.yaml"
    config.write_text(config.read_text().rstrip() + "\n" + CANDIDATE_ENTRY)
    (pack / "skills" / "breaching-tickets").mkdir()
    (pack / "skills" / "breaching-tickets" / "SKILL.md").write_text(CANDIDATE_SKILL)
    return pack


def test_a_candidate_passes_its_evals_without_going_live(demo, tmp_path, settings):  # noqa: F811
    pack = _pack_with_candidate(tmp_path, settings)

    results = skill_candidate_evaluate(pack=pack, skill_name="breaching-tickets")

    assert [(r.ask, r.user, r.problems) for r in results] == [
        ("which tickets are breaching their SLA right now", "sarah", [])
    ]
    skill = Skill.objects.get(name="breaching-tickets")
    assert skill.is_active is False and skill.current_version is None
    assert skill.versions.get().source == Source.FACTORY
    names = [s.name for s in skill_list_for_context(context=context_for("sarah"))]
    assert "breaching-tickets" not in names


def test_deploying_the_pack_makes_the_evaluated_version_live(demo, tmp_path, settings):  # noqa: F811
    pack = _pack_with_candidate(tmp_path, settings)
    skill_candidate_evaluate(pack=pack, skill_name="breaching-tickets")
    candidate = Skill.objects.get(name="breaching-tickets").versions.get()

    report = pack_sync(path=pack, source=Source.FACTORY)

    skill = Skill.objects.get(name="breaching-tickets")
    assert report.created == ["breaching-tickets"] or "breaching-tickets" in report.updated
    assert (skill.is_active, skill.current_version_id, skill.versions.count()) == (True, candidate.pk, 1)
    assert "breaching-tickets" in [s.name for s in skill_list_for_context(context=context_for("sarah"))]


def test_an_eval_whose_facts_are_missing_fails_the_candidate(demo, tmp_path, settings):  # noqa: F811
    pack = _pack_with_candidate(tmp_path, settings)
    config = pack / "aspora.config.yaml"
    config.write_text(config.read_text().replace('facts: ["#1044"]\n', 'facts: ["#1044", "#9999"]\n'))

    results = skill_candidate_evaluate(pack=pack, skill_name="breaching-tickets")

    assert results[0].problems == ["answer lacks ['#9999']"]
    assert Skill.objects.get(name="breaching-tickets").current_version is None


def test_a_broken_pack_names_the_problem_instead_of_evaluating(demo, tmp_path, settings):  # noqa: F811
    pack = _pack_with_candidate(tmp_path, settings)
    config = pack / "aspora.config.yaml"
    config.write_text(
        config.read_text().replace(
            "tools: [list_my_tickets]\n    roles: [field_agent, manager]\n    eval_as",
            "tools: [drop_tables]\n    roles: [field_agent, manager]\n    eval_as",
        )
    )

    results = skill_candidate_evaluate(pack=pack, skill_name="breaching-tickets")

    assert len(results) == 1 and not results[0].passed
    assert "drop_tables" in results[0].problems[0]
    assert not Skill.objects.filter(name="breaching-tickets").exists()
