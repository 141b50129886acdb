"""Drill: runs nobody will finish — a whole worker lost with the broker's long visibility timeout, a
queued task lost with the broker's data — are failed by the beat-scheduled sweeper with a reason;
a run waiting for a person's confirmation is left alone."""

import time

import pytest

from tests.drills.conftest import wait_for
from tests.drills.models import SlowStreamServer, answered_by_tool
from tests.loopback import Reply

# Real services, restarted: the session's first drill also builds the cluster and seeds it.
pytestmark = [pytest.mark.services, pytest.mark.timeout(600)]


def test_the_sweeper_fails_runs_that_no_worker_will_finish(stack):
    def script(body: dict) -> Reply:
        if "escalate" in body["messages"][-1].get("content", "") and not answered_by_tool(body):
            return Reply(tool_calls=[("escalate_ticket", {"ticket_number": 1043, "reason": "customs hold"})])
        return Reply(text="one two three four five six seven eight nine ten eleven twelve thirteen fourteen")

    stack.login("sarah", "omar")
    stack.start_daphne()
    sweeper_env = {"ASPORA_RUN_SWEEP_SECONDS": "1", "ASPORA_RUN_SWEEP_GRACE": "5", "ASPORA_RUN_PENDING_TIMEOUT": "20"}
    with SlowStreamServer(script, word_seconds=0.5) as model:
        stack.start_worker(env=model.model_env())
        waiting = stack.ask("sarah", "escalate ticket 1043 because customs has held it for a week", "escalate-shipment")
        stack.wait_status(waiting, "awaiting_confirmation", 60)
        lost = stack.ask("omar", "show my tickets", "my-tickets")
        wait_for(lambda: any(t == "run.delta" for _, t, _ in stack.events(lost)), 60, "the run streaming")
        # The node dies; with the default visibility timeout (an hour) the broker keeps its task.
        stack.kill("worker")
        # A run queued while no worker runs, whose task the broker then loses (a Redis without
        # persistence restarting, an operator flushing the queue).
        orphan = stack.ask("sarah", "show my tickets", "my-tickets")
        assert stack.redis.command("DEL", "celery").startswith(b":1")
        # As if the node had died a while ago: the run's last activity is older than its 60 s limit.
        stack.pg.sql(
            "UPDATE skills_skillrunevent SET created_at = created_at - interval '2 minutes' WHERE run_id = %s",
            [lost],
            db=stack.db,
        )
        stack.pg.sql(
            "UPDATE skills_skillrun SET started_at = started_at - interval '2 minutes', "
            "queued_at = queued_at - interval '2 minutes' WHERE id = %s",
            [lost],
            db=stack.db,
        )
        assert stack.run_row(lost)["status"] == "running" and stack.run_row(orphan)["status"] == "pending"

        started = time.monotonic()
        stack.start_worker("worker2", beat=True, env={**model.model_env(), **sweeper_env})
        rows = stack.wait_finished([lost, orphan], 90)

    assert rows[lost]["status"] == "failed"
    assert "nothing happened for longer than its 60 s limit" in rows[lost]["error"]
    assert rows[orphan]["status"] == "failed"
    assert "No worker picked the run up within 20 s" in rows[orphan]["error"]
    assert time.monotonic() - started < 60
    for run_id in (lost, orphan):
        assert stack.events(run_id)[-1][1] == "run.error"
    # The listener's view of it: the run's API record says failed and why.
    status, body = stack.http("GET", f"/api/runs/{orphan}", user="sarah")
    assert status == 200 and body["status"] == "failed" and body["events"][-1]["type"] == "run.error"
    # Waiting for a person is not stuck.
    assert stack.run_row(waiting)["status"] == "awaiting_confirmation"
    assert stack.pg.sql("SELECT count(*) FROM skills_skillrun WHERE status IN ('running', 'pending')", db=stack.db) == [
        (0,)
    ]
