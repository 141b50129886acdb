from django.core.management.base import BaseCommand, CommandError

from audit.services import audit_chain_verify


class Command(BaseCommand):
    help = (
        "Walk the audit hash chain, archived segments first, and name the first broken row or segment "
        "(exit status 1 when one is found)."
    )

    def handle(self, *args, **options):
        report = audit_chain_verify()
        if not report.ok:
            where = f"in archived segment {report.segment} " if report.segment else ""
            row = f"row seq={report.broken_seq}" + (f" (id {report.broken_id})" if report.broken_id else "")
            raise CommandError(
                f"audit chain broken {where}at {row}: {report.reason}. {report.checked} rows before it verified."
            )
        archived = f", {report.segments} archived segments included" if report.segments else ""
        self.stdout.write(self.style.SUCCESS(f"audit chain intact: {report.checked} rows verified{archived}"))
