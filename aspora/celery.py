"""The Celery app. Configuration comes from Django settings (`CELERY_*`)."""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_process_shutdown, worker_shutdown
from django.db import close_old_connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aspora.settings")

app = Celery("aspora")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# The bridges keep their tasks per front door.
app.autodiscover_tasks(["bridges.slack", "bridges.whatsapp"])


@task_prerun.connect
@task_postrun.connect
def _connections_release(sender=None, **kwargs) -> None:
    """Around each task, what Django does around each request: hand back (to the connection pool)
    connections that are past their age or broken. Celery's own clean-up would close the whole
    pool instead, so production settings set `CELERY_DB_REUSE_MAX` to keep it (see settings)."""
    if not getattr(getattr(sender, "request", None), "is_eager", False):
        close_old_connections()


@worker_process_shutdown.connect
def _metrics_release(pid=None, **kwargs) -> None:
    """A prefork child is gone: its live gauges leave the shared metrics directory with it, and
    the spans it still buffers are sent."""
    from aspora.observability.metrics import process_exited
    from aspora.observability.tracing import tracing_flush

    tracing_flush()
    process_exited(pid or os.getpid())


@worker_shutdown.connect
def _traces_flush(**kwargs) -> None:
    from aspora.observability.tracing import tracing_flush

    tracing_flush()
