"""Following a factory run from a terminal: one line per stage change, until it waits or ends."""

import time

from factory.models import FactoryRun, RunStatus

POLL_SECONDS = 0.2


def run_follow(run: FactoryRun, write, *, timeout: float = 1800) -> FactoryRun:
    seen: dict[int, str] = {}
    deadline = time.monotonic() + timeout
    while True:
        run.refresh_from_db()
        for stage in run.stages.order_by("started_at", "id"):
            state = f"{stage.status}:{stage.summary}"
            if seen.get(stage.pk) == state:
                continue
            seen[stage.pk] = state
            took = f" {stage.duration_ms / 1000:.1f}s" if stage.duration_ms is not None else ""
            sha = f" @{stage.sha[:10]}" if stage.sha else ""
            write(f"  {stage.get_name_display():<10} {stage.status:<8}{sha}{took}  {stage.summary}")
        if run.is_finished or run.status == RunStatus.WAITING or time.monotonic() > deadline:
            return run
        time.sleep(POLL_SECONDS)
