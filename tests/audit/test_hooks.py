"""What lands in the audit from every door: runs (started, tool calls with redacted arguments,
confirmations, the outcome with latency and cost), refusals, factory decisions and admin changes."""

import pytest
from django.contrib.admin.models import LogEntry

from audit.models import AuditEvent
from audit.services import audit_chain_verify
from factory.services import factory_run_approve
from skills.models import RunStatus
from skills.services import SkillNotFoundError, skill_run_decide, skill_run_start
from tenants.models import Membership, Role, User
from tests.factory.builders import people_seed, tiers_ensure, waiting_run_make
from tests.skills.conftest import context_for, demo, eager_tasks  # noqa: F401 - shared fixtures


def _rows(object_id) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(object_id=str(object_id)).order_by("seq"))


def test_a_confirmed_escalation_is_audited_from_question_to_outcome(demo):  # noqa: F811
    sarah = context_for("sarah")
    run = skill_run_start(
        context=sarah, message="escalate ticket 1043 because customer ana.k@example.com was charged twice"
    )
    skill_run_decide(user=sarah.user, run=run, approve=True, note="go ahead")
    run.refresh_from_db()

    rows = _rows(run.id)
    assert [row.action for row in rows] == [
        "run.started",
        "run.tool_call",
        "run.confirmation_needed",
        "run.confirmed",
        "run.finished",
    ]
    started, call, _, confirmed, finished = rows
    assert {row.actor_label for row in rows} == {"sarah"}
    assert {(row.channel, row.team_id, row.tenant_id) for row in rows} == {("web", run.team_id, run.tenant_id)}
    assert (started.domain, started.skill, started.skill_version) == (
        "ecm",
        run.skill.name,
        run.skill_version.number,
    )
    assert call.data["tool"] == "escalate_ticket"
    assert call.data["args"]["ticket_number"] == 1043
    assert "ana.k@example.com" not in str(call.data) and "ana.k@example.com" not in started.summary
    assert (confirmed.outcome, confirmed.data["note"]) == ("ok", "go ahead")
    assert run.status == RunStatus.SUCCEEDED
    assert (finished.outcome, finished.latency_ms, finished.cost_usd) == ("ok", run.latency_ms, run.cost_usd)
    assert audit_chain_verify().ok


def test_a_declined_confirmation_is_audited_as_rejected(demo):  # noqa: F811
    sarah = context_for("sarah")
    run = skill_run_start(context=sarah, message="escalate ticket 1043 because it is late")
    skill_run_decide(user=sarah.user, run=run, approve=False, note="wrong ticket")

    confirmed = AuditEvent.objects.get(object_id=str(run.id), action="run.confirmed")
    assert (confirmed.outcome, confirmed.summary) == ("rejected", "sarah declined the pending tool calls")


def test_a_refusal_is_audited_with_its_reason(demo):  # noqa: F811
    with pytest.raises(SkillNotFoundError) as refused:
        skill_run_start(context=context_for("sarah"), message="hello", skill_name="wire-money")

    row = AuditEvent.objects.get(object_id=refused.value.extra["run_id"])
    assert (row.action, row.outcome, row.actor_label) == ("run.refused", "refused", "sarah")
    assert row.summary.startswith("There is no skill named 'wire-money' that you can run.")


def test_text_deltas_and_tool_results_stay_out_of_the_audit(demo):  # noqa: F811
    run = skill_run_start(context=context_for("sarah"), message="show my tickets")
    types = set(run.events.values_list("type", flat=True))
    actions = {row.action for row in _rows(run.id)}

    assert {"run.delta", "run.tool_result"} & types
    assert actions == {"run.started", "run.tool_call", "run.finished"}


def test_auditing_a_run_in_the_executor_reads_no_skill_or_domain_again(demo):  # noqa: F811
    """The executor holds the run's version with its skill and domain (cached per process); an
    audit row per event must not query them again on every run."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from audit.services import audit_run_event
    from skills.executor import skill_run_load

    run = skill_run_load(run_id=skill_run_start(context=context_for("sarah"), message="show my tickets").id)
    with CaptureQueriesContext(connection) as queries:
        row = audit_run_event(run=run, type="run.started", data={"model": "test"})

    assert (row.skill, row.domain) == ("my-tickets", "ecm")
    assert [q["sql"] for q in queries if '"skills_skill"' in q["sql"] or '"skills_domain"' in q["sql"]] == []


@pytest.fixture
def waiting(db, settings, tmp_path):
    settings.ASPORA_FACTORY_DIR = tmp_path
    settings.ASPORA_FACTORY_DISPATCH = "inline"
    people = people_seed()
    return people, waiting_run_make(people, tiers_ensure())


def test_a_factory_approval_is_audited_with_the_exact_commit(waiting):
    people, run = waiting
    factory_run_approve(run=run, user=people["olivia"], sha=run.head_sha, comment="checked the kelly maths")

    (approved,) = _rows(run.id)
    assert (approved.action, approved.actor_label, approved.outcome) == ("factory.approved", "olivia", "ok")
    assert approved.data == {"sha": run.head_sha, "comment": "checked the kelly maths", "tier": "high"}


def test_a_factory_rejection_is_audited(waiting):
    people, run = waiting
    factory_run_approve(run=run, user=people["admin"], sha=run.head_sha, approve=False, comment="no")

    (rejected,) = _rows(run.id)
    assert (rejected.action, rejected.actor_label, rejected.outcome) == ("factory.rejected", "admin", "rejected")
    assert rejected.summary == f"admin rejected Wealth Portfolio Checker at {run.head_sha[:12]}"


def test_an_admin_role_change_is_audited_with_who_the_message_and_before_after(client, db):
    people = people_seed()
    membership = Membership.objects.get(user__username="raj")
    client.force_login(User.objects.get(username="admin"))
    url = f"/admin/tenants/membership/{membership.pk}/change/"

    for role in (Role.MANAGER, Role.OPS_MANAGER):
        response = client.post(
            url, {"user": people["raj"].pk, "team": membership.team_id, "role": role, "is_primary": "on"}
        )
        assert response.status_code == 302, response.content.decode()[:500]

    first, second = AuditEvent.objects.filter(object_type="tenants.membership", object_id=str(membership.pk)).order_by(
        "seq"
    )
    assert LogEntry.objects.count() == 2
    assert (second.action, second.actor_label, second.channel, second.object_type) == (
        "admin.change",
        "admin",
        "admin",
        "tenants.membership",
    )
    assert second.data["message"] == "Changed Role."
    assert (second.data["before"]["role"], second.data["after"]["role"]) == ("manager", "ops_manager")
    assert first.data["after"]["role"] == "manager"


def test_two_admin_edits_of_a_skill_record_the_live_version_before_and_after(client, demo):  # noqa: F811
    import yaml
    from django.urls import reverse

    from skills.models import Skill

    client.force_login(User.objects.get(username="admin"))
    skill = Skill.objects.get(name="my-tickets")
    v1 = skill.current_version
    for text in ("one-line list", "bulleted list"):
        version = Skill.objects.get(pk=skill.pk).current_version
        form = {
            "is_active": "on",
            "content": version.content.replace("short table", text).replace("one-line list", text),
            "settings_yaml": yaml.safe_dump({k: v for k, v in version.config.items() if k != "name"}),
            "note": text,
            "versions-TOTAL_FORMS": "0",
            "versions-INITIAL_FORMS": "0",
        }
        assert client.post(reverse("admin:skills_skill_change", args=[skill.pk]), form).status_code == 302

    first, second = AuditEvent.objects.filter(object_type="skills.skill", object_id=str(skill.pk)).order_by("seq")
    v2, v3 = skill.versions.order_by("number")[1:3]
    assert (first.object_type, first.actor_label, first.data["verb"]) == ("skills.skill", "admin", "changed")
    assert first.data["after"]["current_version_id"] == v2.pk != v1.pk
    assert (second.data["before"]["current_version_id"], second.data["after"]["current_version_id"]) == (v2.pk, v3.pk)
