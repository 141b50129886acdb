"""Drive factory runs that were left unfinished (queued or running) to where they wait or end.

In production a lost worker's run is redelivered by Celery; in the embedded default a run drives
in a thread of the server, so a restarted server leaves it behind: this picks it up.
"""

from django.core.management.base import BaseCommand

from factory.models import FactoryRun, RunStatus
from factory.pipeline import factory_run_drive


class Command(BaseCommand):
    help = "Resume factory runs left queued or running (after a restart), in this process."

    def handle(self, *args, **options):
        runs = list(FactoryRun.objects.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).order_by("created_at"))
        if not runs:
            self.stdout.write("no unfinished factory runs")
        for run in runs:
            self.stdout.write(f"resuming {run.id} {run.title} ({run.get_status_display().lower()})")
            run = factory_run_drive(run_id=str(run.id))
            self.stdout.write(
                f"  now {run.get_status_display().lower()}{': ' + run.stop_reason if run.stop_reason else ''}"
            )
