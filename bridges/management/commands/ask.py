"""The terminal bridge: ask a skill from the shell through the same service as every front door.

The run starts in a background thread (on the embedded default it also executes there); this
thread follows the run's stored events and prints them as they arrive.
"""

import json
import sys
import threading
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections

from aspora.errors import ApplicationError
from skills.models import RunStatus, SkillRun
from skills.selectors import skill_run_follow
from skills.services import skill_run_decide, skill_run_start
from tenants.context import Channel
from tenants.models import User
from tenants.services import asker_context_build

POLL_SECONDS = 0.05


class Command(BaseCommand):
    help = 'Ask a skill from the terminal, e.g. ask --user sarah "show my tickets".'

    def add_arguments(self, parser):
        parser.add_argument("message")
        parser.add_argument("--user", required=True, help="who is asking (username)")
        parser.add_argument("--skill", help="run this skill instead of routing the message")
        parser.add_argument("--team", help="team slug to ask as (default: the person's primary team)")
        parser.add_argument("--context", action="append", default=[], metavar="KEY=VALUE", help="extra context ids")
        parser.add_argument("--json", action="store_true", help="print one JSON object instead of the stream")
        decision = parser.add_mutually_exclusive_group()
        decision.add_argument("--yes", action="store_true", help="confirm tool calls that need confirmation")
        decision.add_argument("--no", action="store_true", help="reject tool calls that need confirmation")
        parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for the run")

    def handle(self, *args, **opts):
        user = User.objects.filter(username=opts["user"], is_active=True).first()
        if user is None:
            raise CommandError(f"No active user named {opts['user']!r}.")
        extra = dict(item.split("=", 1) for item in opts["context"] if "=" in item)
        try:
            context = asker_context_build(user=user, channel=Channel.TERMINAL, team_slug=opts["team"], extra=extra)
            run = self._start(context=context, message=opts["message"], skill_name=opts["skill"])
        except ApplicationError as exc:
            if opts["json"]:
                self.stdout.write(
                    json.dumps({"run_id": exc.extra.get("run_id"), "status": "refused", "error": exc.message})
                )
                sys.exit(1)
            raise CommandError(exc.message) from exc

        tool_calls = []
        try:
            for event in skill_run_follow(run=run, timeout=opts["timeout"], poll_seconds=POLL_SECONDS):
                if event is None:
                    continue
                self._show(event, quiet=opts["json"])
                if event.type == "run.tool_call":
                    tool_calls.append({"name": event.data["name"], "args": event.data["args"]})
                if event.type == "run.confirmation_needed":
                    approve = self._decide(event.data["calls"], opts)
                    if approve is None:
                        break
                    skill_run_decide(user=user, run=run, approve=approve)
        except TimeoutError:
            self.stderr.write(f"Gave up waiting after {opts['timeout']:.0f} s; the run goes on: {run.id}")
        return self._finish(run, tool_calls, opts)

    def _start(self, **kwargs) -> SkillRun:
        """Start the run in a thread so that an in-process execution streams while we print."""
        started: dict = {}

        def target():
            try:
                started["run"] = skill_run_start(**kwargs)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
                started["error"] = exc
            finally:
                close_old_connections()

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        while "run" not in started and "error" not in started:
            time.sleep(0.005)
        if "error" in started:
            raise started["error"]
        self._runner = thread
        return started["run"]

    def _show(self, event, *, quiet: bool) -> None:
        if quiet:
            return
        data = event.data
        if event.type == "run.started":
            label = " (offline model)" if data.get("offline") else ""
            self.stderr.write(self.style.HTTP_INFO(f"▶ {data['skill']} v{data['version']} · {data['model']}{label}"))
        elif event.type == "run.delta":
            self.stdout.write(data["text"], ending="")
            self.stdout.flush()
        elif event.type == "run.tool_call":
            self.stderr.write(self.style.HTTP_INFO(f"⚙ {data['name']}({json.dumps(data['args'])})"))
        elif event.type == "run.tool_result":
            mark = "✓" if data["ok"] else "✗"
            self.stderr.write(f"{mark} {data['name']} · {data['duration_ms']} ms")
        elif event.type == "run.error":
            self.stderr.write(self.style.ERROR(f"\n✗ {data['message']}"))
        elif event.type == "run.final":
            self.stdout.write("")

    def _decide(self, calls: list[dict], opts) -> bool | None:
        described = "; ".join(f"{c['name']}({json.dumps(c['args'])})" for c in calls)
        if opts["yes"] or opts["no"]:
            return bool(opts["yes"])
        if sys.stdin.isatty() and not opts["json"]:
            answer = input(f"\nConfirm {described}? [y/N] ").strip().lower()
            return answer in ("y", "yes")
        self.stderr.write(f"\nWaiting for confirmation of {described}; rerun with --yes or --no.")
        return None

    def _finish(self, run: SkillRun, tool_calls: list[dict], opts) -> None:
        run.refresh_from_db()
        if opts["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "run_id": str(run.id),
                        "skill": run.skill.name if run.skill else None,
                        "status": run.status,
                        "model": run.model,
                        "offline": run.is_offline,
                        "answer": run.answer,
                        "tool_calls": tool_calls,
                        "error": run.error or None,
                        "latency_ms": run.latency_ms,
                        "cost_usd": str(run.cost_usd),
                    }
                )
            )
        if run.status != RunStatus.SUCCEEDED:
            sys.exit(1 if run.status != RunStatus.AWAITING_CONFIRMATION else 3)
