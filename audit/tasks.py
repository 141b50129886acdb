from celery import shared_task

from audit.archive import audit_archive
from audit.retention import retention_purge


@shared_task(name="audit.retention_purge")
def retention_purge_task() -> dict[str, int]:
    """Nightly (CELERY_BEAT_SCHEDULE): safe to run twice, a second run finds nothing past its period."""
    return retention_purge()


@shared_task(name="audit.archive")
def audit_archive_task() -> list[str]:
    """Nightly (CELERY_BEAT_SCHEDULE): safe to run twice or after a crash, see audit.archive."""
    return [segment.storage_name for segment in audit_archive()]
