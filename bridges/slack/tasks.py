"""The Celery task behind a Slack request in production. Retry-safe: jobs dedupe by receipt and key."""

from celery import shared_task


@shared_task(name="bridges.slack_job", acks_late=True, reject_on_worker_lost=True)
def slack_job_task(kind: str, body: dict) -> None:
    from bridges.slack.jobs import slack_job_run

    slack_job_run(kind=kind, body=body)
