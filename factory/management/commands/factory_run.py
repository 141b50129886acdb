"""Queue a factory run from a spec file, as a person, and optionally follow it to its end."""

import json
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from aspora.errors import ApplicationError
from factory.management.commands._follow import run_follow
from factory.models import RunStatus
from factory.selectors import factory_run_summary
from factory.services import factory_run_queue
from factory.specs import SpecError, spec_parse
from tenants.models import User


class Command(BaseCommand):
    help = "Queue a Code Factory run from a spec file (see factory/specs/README.md)."

    def add_arguments(self, parser):
        parser.add_argument("--spec", required=True, help="the spec file (markdown with YAML frontmatter)")
        parser.add_argument("--kind", choices=["skill", "product"], help="check the spec is of this kind")
        parser.add_argument("--as", dest="username", required=True, help="the person who queues the run")
        parser.add_argument("--wait", action="store_true", help="follow the run until it deploys, waits or fails")
        parser.add_argument("--json", action="store_true", help="print the run as JSON at the end")

    def handle(self, *args, spec: str, kind: str | None, username: str, wait: bool, json: bool, **options):
        path = Path(spec)
        if not path.is_file():
            raise CommandError(f"No spec file at {path}.")
        text = path.read_text(encoding="utf-8")
        try:
            parsed = spec_parse(text, source=str(path))
        except SpecError as exc:
            raise CommandError(str(exc)) from exc
        if kind and parsed.kind != kind:
            raise CommandError(
                f"{path} is a {parsed.kind} spec, not a {kind} spec (its frontmatter says kind: {parsed.kind})."
            )
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user {username!r}.")
        try:
            run = factory_run_queue(requester=user, spec_text=text, spec_name=path.name)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        say = self.stderr.write if json else self.stdout.write
        say(f"queued factory run {run.id}: {run.title} ({run.kind}, target {run.target_repo})")
        # In the embedded default the pipeline runs in a thread of this process: it must not exit early.
        if wait or settings.ASPORA_FACTORY_DISPATCH == "thread":
            run = run_follow(run, say)
            self._report(run, say)
        if json:
            self.stdout.write(_json(factory_run_summary(run=run)))
        if run.status in (RunStatus.FAILED, RunStatus.REJECTED, RunStatus.STOPPED):
            sys.exit(1)

    def _report(self, run, say) -> None:
        if run.status == RunStatus.WAITING:
            say(
                f"waiting for approval of {run.head_sha} ({run.tier.name} tier): "
                f"manage.py factory_approve {run.id} --sha {run.head_sha} --as <approver>"
            )
        elif run.status == RunStatus.DEPLOYED:
            deployment = run.deployments.order_by("-created_at").first()
            say(f"deployed {deployment.target} at {deployment.url or deployment.path}")
        else:
            say(f"run {run.get_status_display().lower()}: {run.stop_reason}")


def _json(data: dict) -> str:
    return json.dumps(data, indent=2, default=str)
