from pathlib import Path

from django.core.management.base import BaseCommand

from skills.registry import domains_root, packs_export


class Command(BaseCommand):
    help = "Write the database's current skill versions back to domain packs."

    def add_arguments(self, parser):
        parser.add_argument("--out", type=Path, default=None, help="target folder (default: domains/)")

    def handle(self, *args, out: Path | None, **options):
        written = packs_export(out=out or domains_root())
        self.stdout.write(f"Wrote {len(written)} files.")
