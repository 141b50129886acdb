"""Running skills end to end on the offline model: answers, tool calls, confirmations, records."""

import io
import json
import subprocess

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.management import CommandError, call_command

from aspora.realtime import user_group
from domains.ecm.models import Ticket, TicketStatus
from skills.models import RunStatus, SkillRun
from skills.offline import OFFLINE_LABEL
from skills.services import skill_run_decide, skill_run_start
from tests.skills.conftest import context_for


def _events(run: SkillRun) -> list[tuple[int, str]]:
    return list(run.events.values_list("seq", "type"))


def test_show_my_tickets_is_routed_runs_its_tool_and_answers_from_the_data(demo):
    run = skill_run_start(context=context_for("sarah"), message="show my tickets")

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert (run.skill.name, run.routed, run.model, run.is_offline) == ("my-tickets", True, "aspora:offline", True)
    lines = run.answer.splitlines()
    assert lines[0] == "4 found:"
    assert lines[2] == "| ticket | title | corridor | amount | priority | status | sla due | sla |"
    rows = [line.split(" | ") for line in lines[4:8]]
    assert [row[0] for row in rows] == [f"| [#{n}](/ecm/tickets/{n}/)" for n in (1042, 1044, 1043, 1045)]
    assert [row[-1] for row in rows][:2] == ["breached |", "breached |"]
    assert rows[0][3] == "4,250.00 AED"
    assert rows[0][6].endswith("+04")  # Sarah's zone, Asia/Dubai
    assert "Northwind" not in run.answer and "1046" not in run.answer
    assert run.answer.endswith(OFFLINE_LABEL)
    types = [t for _, t in _events(run)]
    assert types[:3] == ["run.started", "run.tool_call", "run.tool_result"]
    assert types[-1] == "run.final"
    assert set(types[3:-1]) == {"run.delta"}
    assert [seq for seq, _ in _events(run)] == list(range(1, len(types) + 1))
    assert run.started_at <= run.first_token_at <= run.finished_at
    assert (run.cost_usd, run.error) == (0, "")
    assert run.input_tokens > 0 and run.output_tokens > 0


def test_a_named_skill_is_not_routed(demo):
    run = skill_run_start(context=context_for("sarah"), message="anything at all", skill_name="my-tickets")

    run.refresh_from_db()
    assert (run.skill.name, run.routed, run.status) == ("my-tickets", False, RunStatus.SUCCEEDED)


def test_an_escalation_waits_for_confirmation_then_escalates_and_notifies_the_manager(demo):
    layer = get_channel_layer()
    omar_inbox = async_to_sync(layer.new_channel)("test.")
    omar_id = Ticket.objects.get(number=1046).assignee_id
    async_to_sync(layer.group_add)(user_group(omar_id), omar_inbox)
    sarah = context_for("sarah")

    run = skill_run_start(context=sarah, message="escalate ticket 1043 because customs has held it for a week")
    run.refresh_from_db()

    assert run.status == RunStatus.AWAITING_CONFIRMATION
    assert run.pending_tool_calls == [
        {
            "tool_call_id": run.pending_tool_calls[0]["tool_call_id"],
            "name": "escalate_ticket",
            "args": {"ticket_number": 1043, "reason": "customs has held it for a week"},
        }
    ]
    assert Ticket.objects.get(tenant=sarah.tenant, number=1043).status == TicketStatus.OPEN

    skill_run_decide(user=sarah.user, run=run, approve=True)
    run.refresh_from_db()
    ticket = Ticket.objects.get(tenant=sarah.tenant, number=1043)

    assert run.status == RunStatus.SUCCEEDED
    assert (ticket.status, ticket.escalation_level, ticket.get_priority_display()) == ("escalated", 1, "High")
    assert ticket.history.last().detail == "Level 1 to Omar Haddad: customs has held it for a week"
    assert "**notified**: Omar Haddad" in run.answer
    notice = async_to_sync(layer.receive)(omar_inbox)
    assert (notice["event"], notice["link"]) == ("notification.created", "/ecm/tickets/1043/")
    assert notice["title"] == "Ticket #1043 escalated by Sarah Khan"
    types = [t for _, t in _events(run)]
    assert types.count("run.tool_call") == 1
    assert types.index("run.confirmation_needed") < types.index("run.confirmed") < types.index("run.tool_result")


def test_a_rejected_escalation_changes_nothing(demo):
    sarah = context_for("sarah")
    run = skill_run_start(context=sarah, message="escalate ticket 1043 because it is late")
    run.refresh_from_db()

    skill_run_decide(user=sarah.user, run=run, approve=False, note="wrong ticket")
    run.refresh_from_db()

    assert run.status == RunStatus.SUCCEEDED
    assert "The asker declined this call. wrong ticket" in run.answer
    assert Ticket.objects.get(tenant=sarah.tenant, number=1043).escalation_level == 0


def test_only_the_asker_can_confirm_and_only_while_the_run_waits(demo):
    from skills.services import RunStateError, SkillNotFoundError

    sarah = context_for("sarah")
    run = skill_run_start(context=sarah, message="escalate ticket 1043 because it is late")
    run.refresh_from_db()

    with pytest.raises(SkillNotFoundError):
        skill_run_decide(user=context_for("omar").user, run=run, approve=True)
    skill_run_decide(user=sarah.user, run=run, approve=True)
    with pytest.raises(RunStateError, match=r"This run is not waiting for a confirmation \(it is succeeded\)\."):
        skill_run_decide(user=sarah.user, run=run, approve=True)


def test_a_missing_required_value_is_asked_for_not_guessed(demo):
    run = skill_run_start(context=context_for("sarah"), message="escalate ticket 1043")

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert run.answer.startswith("I need more to do that: why it needs the manager, in the asker's words.")
    assert run.pending_tool_calls == []
    assert not run.events.filter(type="run.tool_call").exists()


def _ask(*args: str) -> subprocess.CompletedProcess:
    """Run `manage.py ask` in this process (it shares the test database) and collect what it printed."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    try:
        call_command("ask", *args, stdout=out, stderr=err)
    except SystemExit as exit_:
        code = exit_.code
    except CommandError as error:
        code, err = 1, io.StringIO(str(error))
    return subprocess.CompletedProcess(["ask", *args], code, out.getvalue(), err.getvalue())


def test_manage_py_ask_prints_one_json_object_and_exits_zero_on_success(demo):
    result = _ask("--user", "sarah", "--json", "show my tickets")

    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert (answer["skill"], answer["status"], answer["model"], answer["error"]) == (
        "my-tickets",
        "succeeded",
        "aspora:offline",
        None,
    )
    assert answer["tool_calls"] == [{"name": "list_my_tickets", "args": {}}]
    assert "1042" in answer["answer"]
    assert SkillRun.objects.get(pk=answer["run_id"]).channel == "terminal"


def test_manage_py_ask_streams_and_confirms_with_yes(demo):
    result = _ask("--user", "sarah", "--yes", "escalate ticket 1044 because the payout keeps bouncing")

    assert result.returncode == 0, result.stderr
    assert "⚙ escalate_ticket" in result.stderr
    assert "**notified**: Omar Haddad" in result.stdout
    assert Ticket.objects.get(tenant__slug="aspora-remit", number=1044).status == "escalated"


def test_manage_py_ask_exits_non_zero_when_the_run_does_not_succeed(demo):
    refused = _ask("--user", "raj", "--json", "--skill", "my-tickets", "show my tickets")
    waiting = _ask("--user", "sarah", "--json", "escalate ticket 1044 because it bounced")

    assert refused.returncode == 1
    assert json.loads(refused.stdout)["status"] == "refused"
    assert waiting.returncode == 3
    assert json.loads(waiting.stdout)["status"] == "awaiting_confirmation"
