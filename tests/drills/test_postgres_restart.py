"""Drill: PostgreSQL restarted while askers keep calling the API and runs are executing.

What an operator checks: requests during the outage fail fast and clearly (503, a problem body that
names the database, no hang, no dropped connection), the connection pools recover on their own
(no process restarted), and runs started before the outage either finish or fail with a reason —
none stays `running`.
"""

import threading
import time

import pytest

from tests.drills.conftest import TERMINAL, wait_for
from tests.drills.models import SlowStreamServer
from tests.loopback import Reply

# Real services, restarted: the session's first drill also builds the cluster and seeds it.
pytestmark = [pytest.mark.services, pytest.mark.timeout(600)]

ANSWER = "Here are your tickets: 1042 is breached and 1043 is waiting on customs since last week."
# Longer than the connection pool's 10 s wait (settings.DATABASES): asks in the outage's first
# seconds must give up; shorter outages are ridden out by the wait itself.
POOL_WAIT_SECONDS = 10
OUTAGE_SECONDS = 12
NO_HANG_SECONDS = POOL_WAIT_SECONDS + 5


class Askers(threading.Thread):
    """Asks in a loop, one request at a time, recording when each was sent and what came back."""

    def __init__(self, stack, user: str):
        super().__init__(daemon=True)
        self.stack, self.user = stack, user
        self.samples: list[tuple[float, float, int, object]] = []  # (sent, seconds, status, body)
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            sent = time.monotonic()
            status, body = self.stack.http(
                "POST", "/api/runs", user=self.user, body={"message": "show my tickets", "skill": "my-tickets"},
                timeout=NO_HANG_SECONDS + 15,
            )  # fmt: skip
            self.samples.append((sent, time.monotonic() - sent, status, body))
            time.sleep(0.5)


def test_asks_during_a_postgresql_restart_fail_cleanly_and_everything_recovers(stack):
    stack.login("sarah", "omar")
    stack.start_daphne()
    with SlowStreamServer(lambda body: Reply(text=ANSWER), word_seconds=0.3) as model:
        stack.start_worker(env=model.model_env(), concurrency=2)
        before = [stack.ask(user, "show my tickets", "my-tickets") for user in ("sarah", "omar", "sarah")]
        wait_for(
            lambda: any(t == "run.delta" for run_id in before for _, t, _ in stack.events(run_id)),
            60,
            "a run streaming its answer",
        )
        askers = [Askers(stack, "sarah"), Askers(stack, "omar")]
        for asker in askers:
            asker.start()
        time.sleep(2)

        stack.pg.stop("fast")
        down_at = time.monotonic()
        model.word_seconds = 0.01  # the runs asked from now on answer at once: the queue stays short
        time.sleep(OUTAGE_SECONDS)
        stack.pg.start()
        up_at = time.monotonic()
        # On its own: nothing is restarted; the pools reconnect with their back-off (1, 2, 4, 8 s…).
        wait_for(lambda: stack.http("GET", "/readyz", timeout=30)[0] == 200, 60, "/readyz to answer 200 again")
        recovered_at = time.monotonic()
        time.sleep(6)
        for asker in askers:
            asker.stop.set()
        for asker in askers:
            asker.join(NO_HANG_SECONDS + 30)

        samples = [sample for asker in askers for sample in asker.samples]
        accepted = [body["id"] for _, _, status, body in samples if status == 202]
        rows = stack.wait_finished(before + accepted, 180)

    timeline = sorted((round(sent - down_at, 1), round(seconds, 1), status) for sent, seconds, status, _ in samples)
    print(f"outage: 0 .. {up_at - down_at:.1f} s, ready again at {recovered_at - down_at:.1f} s; asks:", timeline)
    failures = [(status, body) for _, _, status, body in samples if status != 202]
    # The drill hit the outage, and every request during it failed fast with a clear 503.
    assert failures, "no request failed: the restart was not felt"
    assert all(seconds < NO_HANG_SECONDS for _, seconds, _, _ in samples), max(s for _, s, _, _ in samples)
    for status, body in failures:
        assert status == 503, (status, body)
        assert "database is unavailable" in body["detail"], body
    # The pools recovered on their own, within the outage's length again, and every ask since was accepted.
    assert recovered_at - up_at < OUTAGE_SECONDS + 5
    after = [status for sent, _, status, _ in samples if sent > recovered_at]
    assert len(after) >= 2 and set(after) == {202}, timeline
    assert stack.http("GET", "/readyz")[0] == 200
    assert all(process.poll() is None for process in stack.processes.values())

    # No run left running: those interrupted finished (retried once the database was back) or
    # failed with a reason; the ones accepted around the outage finished too.
    assert all(row["status"] in TERMINAL for row in rows.values()), rows
    for run_id in before:
        row = rows[run_id]
        assert row["status"] == "succeeded" or row["error"], row
        print("run started before the outage:", row["status"], row["attempts"], row["error"][:200])
    assert [row for run_id, row in rows.items() if row["status"] != "succeeded" and run_id not in before] == []
    assert stack.pg.sql("SELECT count(*) FROM skills_skillrun WHERE status IN ('running', 'pending')", db=stack.db) == [
        (0,)
    ]
