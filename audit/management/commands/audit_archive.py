from django.core.management.base import BaseCommand, CommandError

from audit.archive import AuditArchiveError, audit_archive


class Command(BaseCommand):
    help = "Move audit rows older than the online months to offline segment files (what the nightly task runs)."

    def handle(self, *args, **options):
        try:
            segments = audit_archive()
        except AuditArchiveError as exc:
            raise CommandError(f"audit archive stopped: {exc}") from exc
        for segment in segments:
            self.stdout.write(f"archived {segment.row_count} rows (seq {segment.first_seq}..{segment.last_seq}) "
                              f"to {segment.storage_name}")  # fmt: skip
        self.stdout.write(f"{len(segments)} segments written")
