from django.core.management.base import BaseCommand

from skills.registry import domains_root, packs_watch


class Command(BaseCommand):
    help = "Watch the domain packs and import every edit as it happens (Ctrl-C stops)."

    def handle(self, *args, **options):
        self.stdout.write(f"Watching {domains_root()} for skill changes…")

        def show(report):
            self.stdout.write(f"{report.path.name}: new={report.created} updated={report.updated}")
            for problem in report.problems:
                self.stderr.write(f"  ✗ {problem}")

        packs_watch(on_report=show)
