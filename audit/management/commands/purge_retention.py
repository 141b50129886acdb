from django.core.management.base import BaseCommand

from audit.retention import retention_purge


class Command(BaseCommand):
    help = "Delete alerts, audit rows and row changes past their retention period (what the nightly task runs)."

    def handle(self, *args, **options):
        counts = retention_purge()
        self.stdout.write(", ".join(f"{kind}: {count} purged" for kind, count in counts.items()))
