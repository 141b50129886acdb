"""Hand acknowledged work to a job: a thread on the embedded default, a Celery task in production.

On the embedded default Celery runs tasks eagerly, inside the caller, which would hold Slack's
request past its 3-second limit; a small thread pool keeps the request path to an ack.

Deliveries are remembered where their jobs run (this process when jobs run here, Redis when they
run in Celery workers) for `DELIVERY_LEASE`, so a replayed or retried request whose job is queued,
running or done is not queued again. A job that fails forgets its delivery, so Slack's retry of it
is queued and handled; the job's own receipt (`slack_receipt_claim`) stays the final word.

A job carries the trace it was queued in (`TRACE_KEY`, W3C headers), so the request's span, the
job's and the run's share one trace id on both paths (docs/observability.md).
"""

import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections, connections

from aspora.celery import app as celery_app
from aspora.observability.tracing import trace_carrier

logger = logging.getLogger(__name__)
TRACE_KEY = "_trace"
DELIVERY_LEASE_SECONDS = 60
_REDIS_PREFIX = "aspora:slack:delivery:"

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_idle = threading.Condition()
_in_flight = 0

_deliveries: dict[str, float] = {}
_deliveries_lock = threading.Lock()
_redis = None


def slack_jobs_in_process() -> bool:
    """Jobs run in this process's threads (embedded default), not in Celery workers."""
    return bool(celery_app.conf.task_always_eager)


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
        # Give the connection back to the pool: an idle job thread must not hold one of its few slots.
        connections.close_all()
        with _idle:
            _in_flight -= 1
            _idle.notify_all()


def slack_job_submit(*, kind: str, body: dict, countdown: float | None = None) -> None:
    """Queue a job; `countdown` (Celery only) holds it back that many seconds."""
    global _in_flight
    carrier = trace_carrier()
    if carrier:
        body = {**body, TRACE_KEY: carrier}
    if not slack_jobs_in_process():
        from bridges.slack.tasks import slack_job_task

        slack_job_task.apply_async((kind, body), countdown=countdown)
        return
    with _idle:
        _in_flight += 1
    _executor().submit(_run, kind, body)


def slack_jobs_wait_idle(*, timeout: float) -> bool:
    """Block until no in-process job is running (tests, the bench); False on timeout."""
    with _idle:
        return _idle.wait_for(lambda: _in_flight == 0, timeout=timeout)


# --- deliveries -----------------------------------------------------------------------------


def _redis_client():
    global _redis
    if _redis is None:
        import redis

        _redis = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
    return _redis


def slack_delivery_accept(*, key: str) -> bool:
    """Remember a delivery; False when it is remembered already (queued, running or done)."""
    if not slack_jobs_in_process():
        return bool(_redis_client().set(_REDIS_PREFIX + key, 1, nx=True, ex=DELIVERY_LEASE_SECONDS))
    now = time.monotonic()
    with _deliveries_lock:
        if len(_deliveries) > 10_000:
            for stale in [k for k, until in _deliveries.items() if until <= now]:
                del _deliveries[stale]
        if _deliveries.get(key, 0.0) > now:
            return False
        _deliveries[key] = now + DELIVERY_LEASE_SECONDS
        return True


def slack_delivery_forget(*, key: str) -> None:
    """The delivery's job failed: let Slack's retry of it through."""
    if not key:
        return
    if not slack_jobs_in_process():
        _redis_client().delete(_REDIS_PREFIX + key)
        return
    with _deliveries_lock:
        _deliveries.pop(key, None)


def slack_deliveries_forget_all() -> None:
    """Forget every in-process delivery (tests reuse Slack's ids across tests)."""
    with _deliveries_lock:
        _deliveries.clear()


def _enqueue(job: dict) -> bool:
    key = job["key"]
    if key and not slack_delivery_accept(key=key):
        logger.info("Slack delivery %s is queued or handled already", key)
        return False
    try:
        slack_job_submit(kind="request", body=job)
    except BaseException:
        slack_delivery_forget(key=key)
        raise
    return True


async def slack_request_enqueue(*, body: str, headers: dict[str, str], key: str) -> bool:
    """Queue a verified request for a job that hands it to bolt; False when it was a duplicate.

    In-process this is a dict and a thread pool, so it runs on the event loop; Redis and the
    broker are network calls, made on a worker thread.
    """
    job = {"body": body, "headers": headers, "key": key}
    if slack_jobs_in_process():
        return _enqueue(job)
    return await sync_to_async(_enqueue, thread_sensitive=False)(job)
