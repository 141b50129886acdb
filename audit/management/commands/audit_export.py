import csv
import os
from datetime import date, datetime, time, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from audit.archive import AuditArchiveError
from audit.export import CSV_COLUMNS, audit_csv_cells, audit_rows_between


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"{value!r} is not a date: use YYYY-MM-DD") from exc


class Command(BaseCommand):
    help = (
        "Export audit rows between two dates (inclusive, in TIME_ZONE) as CSV, archived segments included: "
        "the audit page shows only what is still online. Every tenant's rows; for compliance admins."
    )

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="since", required=True, type=_day, help="first day, YYYY-MM-DD")
        parser.add_argument("--to", dest="until", required=True, type=_day, help="last day, YYYY-MM-DD")
        parser.add_argument("--output", help="a file to write; standard output when left out")

    def handle(self, *args, since: date, until: date, output: str | None, **options):
        if since > until:
            raise CommandError(f"--from {since} is after --to {until}")
        zone = timezone.get_current_timezone()
        start = timezone.make_aware(datetime.combine(since, time.min), zone)
        end = timezone.make_aware(datetime.combine(until + timedelta(days=1), time.min), zone)
        out = open(output, "w", newline="", encoding="utf-8") if output else self.stdout  # noqa: SIM115
        count = 0
        try:
            writer = csv.writer(out)
            writer.writerow(CSV_COLUMNS)
            for row in audit_rows_between(start=start, end=end):
                writer.writerow(audit_csv_cells(row))
                count += 1
        except AuditArchiveError as exc:
            if output:
                out.close()
                os.remove(output)  # no half export left to be mistaken for a whole one
            raise CommandError(f"export stopped, nothing written: {exc}") from exc
        if output:
            out.close()
        self.stderr.write(f"{count} audit rows from {since} to {until} exported")
