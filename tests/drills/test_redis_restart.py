"""Drill: Redis (broker and channel layer) restarted while runs stream to websocket listeners.

What an operator checks: every run still finishes, each listener ends with the run's final answer
and every event in order (reconnecting or catching up from the stored events), no run is lost, and
a run asked after the restart goes through without restarting Daphne or the worker.
"""

import time

import pytest

from tests.drills.conftest import wait_for
from tests.drills.models import SlowStreamServer
from tests.loopback import Reply

# Real services, restarted: the session's first drill also builds the cluster and seeds it.
pytestmark = [pytest.mark.services, pytest.mark.timeout(600)]

ANSWER = "Your open tickets are 1042 1043 and 1044 and two of them are close to breaching their SLA today."


def _assert_listener_saw_the_whole_run(stack, listener, run_id: str) -> None:
    seen = listener.result(90)
    stored = stack.events(run_id)
    assert seen["terminal"] and seen["terminal"]["event"] == "run.final", (run_id, seen["events"][-3:])
    assert seen["terminal"]["data"]["answer"] == ANSWER
    # In order, no gap, nothing twice: exactly the stored events.
    assert [event["seq"] for event in seen["events"]] == [seq for seq, _, _ in stored]
    streamed = "".join(event["data"]["text"] for event in seen["events"] if event["event"] == "run.delta")
    assert streamed == ANSWER


def test_runs_streaming_through_a_redis_restart_finish_and_listeners_catch_up(stack):
    stack.login("sarah", "omar", "olivia")
    stack.start_daphne()
    with SlowStreamServer(lambda body: Reply(text=ANSWER), word_seconds=0.3) as model:
        stack.start_worker(env=model.model_env(), concurrency=2)
        askers = ["sarah", "omar", "olivia"] * 2
        runs = [stack.ask(user, "show my tickets", "my-tickets") for user in askers]
        listeners = [stack.follow(user, run_id) for user, run_id in zip(askers, runs, strict=True)]

        wait_for(
            lambda: any(t == "run.delta" for run_id in runs for _, t, _ in stack.events(run_id)),
            60,
            "a run streaming its answer",
        )
        stack.redis.stop()
        time.sleep(2)
        stack.redis.start()

        rows = stack.wait_finished(runs, 150)
        assert {row["status"] for row in rows.values()} == {"succeeded"}, rows
        for listener, run_id in zip(listeners, runs, strict=True):
            _assert_listener_saw_the_whole_run(stack, listener, run_id)
        # The restart was felt: the worker lost its broker and reconnected on its own.
        worker_log = stack.log_path("worker").read_text()
        assert "Connection to broker lost" in worker_log
        # Events broadcast while Redis was down were lost to the channel layer, not to the run.
        assert "channel layer unreachable" in worker_log
        print("listener connects:", sorted(listener.connects for listener in listeners))

        # Recovery on its own: a new run is queued, executed and streamed with the same processes.
        after = stack.ask("sarah", "show my tickets", "my-tickets")
        listener = stack.follow("sarah", after)
        assert stack.wait_finished([after], 60)[after]["status"] == "succeeded"
        _assert_listener_saw_the_whole_run(stack, listener, after)

    assert stack.processes["daphne"].poll() is None and stack.processes["worker"].poll() is None
    assert stack.pg.sql("SELECT count(*) FROM skills_skillrun WHERE status IN ('running', 'pending')", db=stack.db) == [
        (0,)
    ]
