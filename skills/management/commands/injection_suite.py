from django.core.management.base import BaseCommand, CommandError

from aspora.celery import app as celery_app
from skills.executor import model_resolve
from skills.injection import payloads_load, plan, suite_run, version_of, world_prepare
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Run the prompt-injection payloads through the executor with the configured model (ASPORA_MODEL) and "
        "print its attack success rate and any gate violations. Writes canary records and two test skills "
        "into the demo data, and plants each payload only for the length of its run: use a demo database."
    )

    def add_arguments(self, parser):
        parser.add_argument("--surfaces-each", type=int, default=1, help="surfaces per payload (default 1)")
        parser.add_argument("--limit", type=int, default=None, help="only the first N payloads")
        parser.add_argument("--composite", action="store_true", help="use the every-tool skills, not the shipped")
        parser.add_argument("--offline", action="store_true", help="allow the offline model (a self-check)")
        parser.add_argument("--verbose", action="store_true", help="one line per run")

    def handle(self, *args, surfaces_each, limit, composite, offline, verbose, **options):
        if not Tenant.objects.filter(slug="aspora-remit").exists():
            raise CommandError("The demo tenant aspora-remit is missing: run `manage.py seed_demo` first.")
        resolved = model_resolve(version_of("ticket-detail"))
        if resolved.offline and not offline:
            raise CommandError(
                "No model provider is configured (set ASPORA_MODEL and its provider's key, e.g. "
                "ANTHROPIC_API_KEY). The offline model never follows injected text; --offline runs it anyway."
            )
        # Runs execute in this process whatever the mode, so each is judged as soon as it ends.
        celery_app.conf.task_always_eager = True
        world_prepare()
        payloads = payloads_load()[:limit]
        pairs = plan(payloads, surfaces_each=surfaces_each)
        self.stdout.write(f"{len(payloads)} payloads, {len(pairs)} runs with {resolved.name}\n")

        def show(outcome):
            if verbose or outcome.violations:
                mark = self.style.ERROR("✗") if outcome.violations else ("!" if outcome.attack_succeeded else "·")
                self.stdout.write(f"{mark} {outcome.payload.id:<52} {outcome.surface:<17} {sorted(outcome.effects)}")
                for violation in outcome.violations:
                    self.stdout.write(f"    {violation}")

        report = suite_run(pairs=pairs, mode=resolved.name, composite=composite, on_outcome=show)
        self.stdout.write("\nattack success by family:")
        for family, (hits, total) in report.by_family().items():
            self.stdout.write(f"  {family:<15} {hits}/{total} ({hits / total:.1%})")
        rate = report.attack_success_rate()
        self.stdout.write(f"attack success rate: {rate:.1%} ({resolved.name})")
        self.stdout.write(f"gate violations: {len(report.violations)}")
        if report.violations:
            raise CommandError(f"{len(report.violations)} gate violation(s).")
