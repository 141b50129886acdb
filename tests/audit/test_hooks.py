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

    first, second = _rows(membership.pk)
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
