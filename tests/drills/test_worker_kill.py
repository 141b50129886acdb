"""Drill: a Celery worker killed mid-run (its pool child, or the whole worker), then a new one.

What an operator checks afterwards: every run reached a terminal state and none is left `running`;
a confirmed tool call's side effect (a ticket escalation) happened exactly once.
"""

import os
import signal
import threading
import time

import pytest

from tests.drills.conftest import wait_for
from tests.drills.models import SlowStreamServer, answered_by_tool
from tests.loopback import Reply

# Real services, restarted: the session's first drill also builds the cluster and seeds it.
pytestmark = [pytest.mark.services, pytest.mark.timeout(600)]

TICKET = 1043


def _ticket(stack, run_id: str) -> tuple[int, int]:
    """(escalation level, how many times its history says it was escalated) of the drill's ticket."""
    rows = stack.pg.sql(
        "SELECT t.escalation_level, (SELECT count(*) FROM ecm_ticketevent e WHERE e.ticket_id = t.id "
        "AND e.action = 'escalated') FROM ecm_ticket t "
        "WHERE t.number = %s AND t.tenant_id = (SELECT tenant_id FROM skills_skillrun WHERE id = %s)",
        [TICKET, run_id],
        db=stack.db,
    )
    return rows[0]


def test_a_confirmed_escalation_happens_once_when_the_worker_child_dies_after_it(stack):
    """The pool child is SIGKILLed after the confirmed escalation ran, while the model writes the answer:
    the redelivered run finishes without escalating the ticket a second time."""
    answers = {"n": 0}
    killed = threading.Event()

    def script(body: dict) -> Reply:
        if not answered_by_tool(body):
            return Reply(tool_calls=[("escalate_ticket", {"ticket_number": TICKET, "reason": "customs hold"})])
        answers["n"] += 1
        # The first answer after the escalation hangs until the drill has killed the worker child.
        if answers["n"] == 1:
            killed.wait(60)
        return Reply(text="Ticket #1043 is escalated to your manager.")

    stack.login("sarah")
    stack.start_daphne()
    with SlowStreamServer(script, word_seconds=0.05) as model:
        stack.start_worker(env=model.model_env())
        run_id = stack.ask(
            "sarah", f"escalate ticket {TICKET} because customs has held it for a week", "escalate-shipment"
        )
        stack.wait_status(run_id, "awaiting_confirmation", 60)
        level_before, escalations_before = _ticket(stack, run_id)

        status, body = stack.http("POST", f"/api/runs/{run_id}/decision", user="sarah", body={"approve": True})
        assert status == 202, body
        wait_for(lambda: answers["n"] == 1, 60, "the model request after the escalation")
        assert _ticket(stack, run_id) == (level_before + 1, escalations_before + 1)
        children = stack.pool_children()
        for child in children:
            os.kill(child, signal.SIGKILL)
        killed.set()

        row = stack.wait_finished([run_id], 90)[run_id]

    assert row["status"] == "succeeded", (row, stack.log_tail("worker"))
    assert row["attempts"] >= 2  # the first resume and the redelivery after the child died
    assert row["answer"].endswith("Ticket #1043 is escalated to your manager.")
    # Exactly once: one level up, one history entry, one recorded tool result.
    assert _ticket(stack, run_id) == (level_before + 1, escalations_before + 1)
    types = [event_type for _, event_type, _ in stack.events(run_id)]
    assert types.count("run.tool_result") == 1, types
    assert types.count("run.final") == 1, types
    seqs = [seq for seq, _, _ in stack.events(run_id)]
    assert seqs == list(range(1, len(seqs) + 1))


def test_runs_of_a_whole_worker_killed_mid_stream_finish_on_a_new_worker(stack):
    """SIGKILL of the worker and its children (a lost node): runs it held come back once the broker's
    visibility timeout has passed, runs still queued go to the new worker; none stays running."""
    visibility = 12

    def script(body: dict) -> Reply:
        return Reply(text="Here are your open tickets: one two three four five six seven eight nine ten.")

    askers = ["sarah", "omar", "olivia", "sarah"]
    env = {"CELERY_VISIBILITY_TIMEOUT": str(visibility)}
    stack.env.update(env)
    stack.login(*set(askers))
    stack.start_daphne()
    with SlowStreamServer(script, word_seconds=0.4) as model:
        stack.start_worker(env=model.model_env(), concurrency=2)
        runs = [stack.ask(user, "show my tickets", "my-tickets") for user in askers]

        def two_mid_stream():
            streaming = [
                r
                for r in runs
                if any(t == "run.delta" for _, t, _ in stack.events(r)) and not stack.run_row(r)["finished_at"]
            ]
            return streaming if len(streaming) == 2 else None

        interrupted = wait_for(two_mid_stream, 60, "two runs streaming on the worker")
        stack.kill("worker")
        killed_at = time.monotonic()
        assert all(stack.run_row(r)["status"] == "running" for r in interrupted)

        # The held messages are redelivered once older than the visibility timeout: start the new
        # worker after it, as an operator replacing a dead node would (it restores them at start).
        time.sleep(max(0.0, visibility + 1 - (time.monotonic() - killed_at)))
        stack.start_worker("worker2", env=model.model_env(), concurrency=2)
        rows = stack.wait_finished(runs, 120)

    assert {row["status"] for row in rows.values()} == {"succeeded"}, rows
    assert all(rows[r]["attempts"] == 2 for r in interrupted), rows
    assert sorted(row["attempts"] for row in rows.values()) == [1, 1, 2, 2]
    for run_id in runs:
        types = [event_type for _, event_type, _ in stack.events(run_id)]
        assert types.count("run.final") == 1, (run_id, types)
        assert types[-1] == "run.final"
    running = stack.pg.sql("SELECT count(*) FROM skills_skillrun WHERE status = 'running'", db=stack.db)
    assert running == [(0,)]
