import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from domains.ecm.demo import ecm_demo_seed
from domains.fincrime.demo import fincrime_demo_seed
from domains.fraud.demo import fraud_demo_seed
from skills.models import Domain
from skills.registry import packs_sync
from skills.services import domain_grants_apply
from tenants.demo import demo_seed
from usage.demo import usage_demo_seed

DEFAULT_DEMO_PASSWORD = "aspora-demo"  # noqa: S105 - DEBUG-only demo accounts


class Command(BaseCommand):
    help = "Create or update the demo tenants, teams, people, domain packs and their data. Safe to run again."

    def add_arguments(self, parser):
        parser.add_argument(
            "--force",
            action="store_true",
            help="Seed even with DEBUG off. New accounts then get random passwords, printed once.",
        )
        parser.add_argument("--seed", type=int, default=7, help="random seed of the generated data (default 7)")
        parser.add_argument(
            "--large", action="store_true", help="also generate 1,000,000 Fraud Guardian transactions (slow)"
        )

    def handle(self, *args, force: bool, seed: int, large: bool, **options):
        if not settings.DEBUG and not force:
            raise CommandError(
                "Refusing to seed demo accounts with DEBUG off (production settings). "
                "Pass --force to seed anyway; new accounts then get random passwords."
            )
        # A known password only where DEBUG is on: production never gets a hard-coded one.
        password = (os.environ.get("DEMO_PASSWORD") or DEFAULT_DEMO_PASSWORD) if settings.DEBUG else None

        def log(step: str) -> None:
            self.stdout.write(f"  seeding {step.lower()}…")

        self.stdout.write("Seeding the Aspora demo")
        logins = demo_seed(password=password, log=log)
        log("Domain packs")
        for report in packs_sync():
            if report.problems:
                self.stderr.write(
                    f"    pack {report.path.name}: {len(report.problems)} problem(s); run sync_domains for details"
                )
        for domain in Domain.objects.all():
            domain_grants_apply(domain=domain)
        log("ECM tickets")
        ecm_demo_seed(seed=seed)
        log("FinCrime customers, transactions and alerts")
        fincrime_demo_seed(seed=seed)
        log("Fraud rules and labelled history" + (" (1,000,000 transactions)" if large else ""))
        fraud_demo_seed(seed=seed, large=large, log=lambda line: self.stdout.write(f"    {line}"))
        log("Usage history and budgets")
        self.stdout.write(f"    {usage_demo_seed(seed=seed)} past runs added for the usage dashboard")
        self.stdout.write(self.style.SUCCESS(f"Done: {len(logins)} demo people ready.\n"))
        self.stdout.write("Log in at http://127.0.0.1:8000/ (PORT overrides the port) as any of:")
        width = max(len(login.username) for login in logins)
        for login in logins:
            secret = login.password if login.password is not None else "(existing account, unchanged)"
            self.stdout.write(
                f"  {login.username:<{width}}  {secret:<20}  {login.role} · {login.team} · {login.tenant}"
            )
        self.stdout.write('\nTry: python manage.py ask --user sarah "show my tickets"')
