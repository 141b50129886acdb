from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from skills.registry import pack_paths, packs_sync


class Command(BaseCommand):
    help = "Import domain packs (all under domains/ by default) into the database; exits non-zero naming each problem."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="*", type=Path, help="pack folders, e.g. domains/ecm")

    def handle(self, *args, paths: list[Path], **options):
        paths = paths or pack_paths()
        if not paths:
            raise CommandError("No packs found: a pack is a folder with an aspora.config.yaml.")
        reports = packs_sync(paths)
        problems = 0
        for report in reports:
            name = report.domain or report.path.name
            summary = ", ".join(
                f"{len(names)} {label}"
                for label, names in (
                    ("new", report.created),
                    ("updated", report.updated),
                    ("unchanged", report.unchanged),
                )
                if names
            )
            self.stdout.write(f"{name}: {summary or 'no skills imported'}")
            for problem in report.problems:
                self.stderr.write(f"  ✗ {problem}")
            problems += len(report.problems)
        if problems:
            raise CommandError(f"{problems} problem(s) in the packs above; their last good versions stay live.")
