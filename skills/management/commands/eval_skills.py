from django.core.management.base import BaseCommand, CommandError

from aspora.celery import app as celery_app
from skills.evals import skill_evals_run


class Command(BaseCommand):
    help = "Run every skill example through the executor and check routing, tool calls and facts."

    def add_arguments(self, parser):
        parser.add_argument("skills", nargs="*", help="only these skills")

    def handle(self, *args, skills: list[str], **options):
        # Evals run in this process whatever the mode, so their results are read back at once.
        celery_app.conf.task_always_eager = True

        def show(result):
            mark = self.style.SUCCESS("✓") if result.passed else self.style.ERROR("✗")
            self.stdout.write(f"{mark} {result.skill:<26} {result.user:<6} {result.ask}")
            for problem in result.problems:
                self.stdout.write(f"    {problem}")

        results = skill_evals_run(skill_names=skills or None, report=show)
        failed = [r for r in results if not r.passed]
        self.stdout.write(f"\n{len(results) - len(failed)} passed, {len(failed)} failed")
        if failed:
            raise CommandError(f"{len(failed)} eval(s) failed.")
        if not results:
            raise CommandError("No examples to evaluate: sync the domain packs first.")
