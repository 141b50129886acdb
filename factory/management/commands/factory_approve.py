"""Approve (or reject) one exact commit of a factory run that waits for approval."""

import json as jsonlib
import sys

from django.core.management.base import BaseCommand, CommandError

from aspora.errors import ApplicationError
from factory.management.commands._follow import run_follow
from factory.models import RunStatus
from factory.selectors import factory_run_get_by_prefix, factory_run_summary
from factory.services import factory_run_approve
from tenants.models import User


class Command(BaseCommand):
    help = "Approve a factory run's commit (its full SHA), then follow it to deployment."

    def add_arguments(self, parser):
        parser.add_argument("run", help="the run's id (or a unique prefix of it)")
        parser.add_argument("--sha", required=True, help="the exact commit you reviewed")
        parser.add_argument("--as", dest="username", required=True, help="the approver")
        parser.add_argument("--reject", action="store_true", help="reject the commit instead")
        parser.add_argument("--comment", default="")
        parser.add_argument("--json", action="store_true", help="print the run as JSON at the end")

    def handle(self, *args, run: str, sha: str, username: str, reject: bool, comment: str, json: bool, **options):
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user {username!r}.")
        found = factory_run_get_by_prefix(user=user, prefix=run)
        if found is None:
            raise CommandError(f"No factory run {run!r} that {username} can see.")
        try:
            factory_run_approve(run=found, user=user, sha=sha, approve=not reject, comment=comment)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        say = self.stderr.write if json else self.stdout.write
        say(f"{'rejected' if reject else 'approved'} {sha[:12]} of {found.title} as {username}")
        found = run_follow(found, say)
        if found.status == RunStatus.DEPLOYED:
            deployment = found.deployments.order_by("-created_at").first()
            say(f"deployed {deployment.target} at {deployment.url or deployment.path}")
        elif found.status == RunStatus.WAITING:
            say("still waiting for more approvals")
        if json:
            self.stdout.write(jsonlib.dumps(factory_run_summary(run=found), indent=2, default=str))
        if found.status in (RunStatus.FAILED, RunStatus.REJECTED, RunStatus.STOPPED) and not reject:
            sys.exit(1)
