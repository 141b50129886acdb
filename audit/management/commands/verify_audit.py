from django.core.management.base import BaseCommand, CommandError

from audit.services import audit_chain_verify


class Command(BaseCommand):
    help = "Walk the audit hash chain and name the first broken row (exit status 1 when one is found)."

    def handle(self, *args, **options):
        report = audit_chain_verify()
        if not report.ok:
            raise CommandError(
                f"audit chain broken at row seq={report.broken_seq} (id {report.broken_id}): {report.reason}. "
                f"{report.checked} rows before it verified."
            )
        self.stdout.write(self.style.SUCCESS(f"audit chain intact: {report.checked} rows verified"))
