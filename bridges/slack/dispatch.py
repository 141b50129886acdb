"""Hand an acknowledged request to a job: a thread on the embedded default, a Celery task in production.

On the embedded default Celery runs tasks eagerly, inside the caller, which would hold Slack's
request past its 3-second limit; a small thread pool keeps the request path to an ack.
"""

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from django.db import close_old_connections

from aspora.celery import app as celery_app

logger = logging.getLogger(__name__)

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_idle = threading.Condition()
_in_flight = 0


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            workers = int(os.environ.get("SLACK_WORKERS", "8"))
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="slack-job")
        return _pool


def _run(kind: str, body: dict) -> None:
    global _in_flight
    from bridges.slack.jobs import slack_job_run

    close_old_connections()
    try:
        slack_job_run(kind=kind, body=body)
    except Exception:
        logger.exception("Slack %s job failed", kind)
    finally:
        close_old_connections()
        with _idle:
            _in_flight -= 1
            _idle.notify_all()


def slack_job_submit(*, kind: str, body: dict) -> None:
    global _in_flight
    if not celery_app.conf.task_always_eager:
        from bridges.slack.tasks import slack_job_task

        slack_job_task.delay(kind, body)
        return
    with _idle:
        _in_flight += 1
    _executor().submit(_run, kind, body)


def slack_jobs_wait_idle(*, timeout: float) -> bool:
    """Block until no in-process job is running (tests, the bench); False on timeout."""
    with _idle:
        return _idle.wait_for(lambda: _in_flight == 0, timeout=timeout)
