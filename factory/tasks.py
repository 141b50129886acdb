"""Celery tasks of the Code Factory. They take ids and are safe to run twice: a redelivered task
(the worker died) resumes the run from its recorded stages."""

from celery import shared_task


@shared_task(name="factory.factory_run_drive", acks_late=True, reject_on_worker_lost=True)
def factory_run_drive_task(run_id: str) -> str | None:
    from factory.pipeline import factory_run_drive

    run = factory_run_drive(run_id=run_id)
    return run.status if run else None


@shared_task(name="factory.products_supervise")
def products_supervise_task() -> int:
    from factory.deployers import products_supervise

    return products_supervise()
