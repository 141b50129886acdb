"""How a run's pipeline gets driven: a Celery task in production, a background thread in the
embedded default (so a portal request never waits on a pipeline), or inline in tests."""

import logging
import threading

from django.conf import settings
from django.db import connections

logger = logging.getLogger(__name__)


def factory_run_dispatch(*, run_id: str) -> None:
    mode = settings.ASPORA_FACTORY_DISPATCH
    if mode == "inline":
        _drive(run_id)
    elif mode == "thread":
        threading.Thread(target=_drive_in_thread, args=(run_id,), name=f"factory-{run_id[:8]}", daemon=True).start()
    elif mode == "celery":
        from factory.tasks import factory_run_drive_task

        factory_run_drive_task.delay(run_id)
    else:
        raise ValueError(f"ASPORA_FACTORY_DISPATCH is {mode!r}; expected celery, thread or inline")


def _drive(run_id: str) -> None:
    from factory.pipeline import factory_run_drive

    factory_run_drive(run_id=run_id)


def _drive_in_thread(run_id: str) -> None:
    try:
        _drive(run_id)
    except Exception:
        logger.exception("factory run %s failed outside a stage", run_id)
    finally:
        connections.close_all()
