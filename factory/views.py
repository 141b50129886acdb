"""Portal pages of the Code Factory: the queue with its spec editor, a run's detail, the risk policy.

Reads go through `factory.selectors`, scoped to the reader's tenant (another tenant's run is a 404);
each write is one service or deployer call, and its refusal is shown in the service's own words.
Live updates come over the websocket (`bridges.factory_consumers`); the pages re-render their
sections from here, so the server stays the only place that knows how a run looks.
"""

import re
from pathlib import Path

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.timesince import timesince
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from aspora.errors import ApplicationError
from aspora.text import markdown_to_safe_html
from factory.deployers import DeployError
from factory.diffs import factory_run_diff
from factory.graduation import CORE_RECORDS, graduation_spec_text
from factory.models import (
    SEVERITY_RANK,
    TERMINAL_RUN_STATUSES,
    Decision,
    FactoryRun,
    FactoryStage,
    RunStatus,
    StageName,
    StageStatus,
)
from factory.selectors import (
    deployment_live,
    factory_run_findings,
    factory_run_get_for_user,
    factory_run_list_for_user,
    factory_run_stages,
    risk_policy_overview,
    tier_requirements,
)
from factory.services import (
    QUEUE_ROLES,
    FactoryPermissionError,
    SpecInvalidError,
    approvals_valid,
    deployment_act,
    factory_run_approve,
    factory_run_queue,
    factory_run_stop,
    user_may_approve,
    user_may_queue,
)
from factory.specs import SpecError, spec_parse
from skills.models import Domain
from tenants.models import Role

SPECS_DIR = Path(__file__).resolve().parent / "specs"
MAX_SPEC_CHARS = 100_000
DONE_SHOWN = 50
PIPELINE = [StageName.GENERATE, StageName.GATE, StageName.REVIEW, StageName.TEST, StageName.APPROVE, StageName.DEPLOY]

# The queue's groups, in the order a person acts on them: what waits for people comes first.
GROUPS = [
    ("waiting", "Waiting for approval", (RunStatus.WAITING,)),
    ("running", "Running", (RunStatus.RUNNING,)),
    ("queued", "Queued", (RunStatus.QUEUED,)),
    ("done", "Done", TERMINAL_RUN_STATUSES),
]


def _run_or_404(request, run_id) -> FactoryRun:
    run = factory_run_get_for_user(user=request.user, run_id=run_id)
    if run is None:
        raise Http404("No such factory run in your organisation.")
    return run


def _duration(ms: int | float | None) -> str:
    if ms is None:
        return ""
    if ms < 1000:
        return f"{round(ms)} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def _age(moment) -> str:
    """ "3 hours ago", or "just now" under a minute (timesince would say "0 minutes")."""
    if (timezone.now() - moment).total_seconds() < 60:
        return "just now"
    return timesince(moment, depth=1) + " ago"


# --- the queue ---------------------------------------------------------------------------------


def spec_templates() -> list[dict]:
    """The demo specs shipped in factory/specs/, offered as starting points (README.md excluded)."""
    templates = []
    for path in sorted(SPECS_DIR.glob("*.md")) if SPECS_DIR.is_dir() else []:
        if path.name.lower() == "readme.md":
            continue
        text = path.read_text(encoding="utf-8")
        kind = re.search(r"^kind:\s*(\w+)", text, re.MULTILINE)
        title = re.search(r"^title:\s*(.+)$", text, re.MULTILINE)
        templates.append(
            {
                "file": path.name,
                "kind": kind.group(1) if kind else "",
                "title": title.group(1).strip().strip("\"'") if title else path.stem,
                "text": text,
            }
        )
    return templates


def spec_format_html() -> str:
    """factory/specs/README.md, the spec format's documentation, for the editor's help."""
    readme = SPECS_DIR / "README.md"
    return markdown_to_safe_html(readme.read_text(encoding="utf-8")) if readme.is_file() else ""


def _queue_refusal(user) -> str:
    roles = sorted({Role(m.role).label for m in user.memberships.filter(team__tenant_id=user.tenant_id)})
    allowed = ", ".join(sorted(Role(role).label.lower() + "s" for role in QUEUE_ROLES))
    held = f"Your roles: {', '.join(roles)}." if roles else "You are not in a team of your organisation yet."
    return f"Queueing a spec needs one of these roles: {allowed}. {held}"


def _queue_rows(user) -> dict:
    runs = factory_run_list_for_user(user=user).prefetch_related(
        Prefetch("stages", queryset=FactoryStage.objects.order_by("started_at", "id"))
    )
    groups = []
    for key, label, statuses in GROUPS:
        chosen = runs.filter(status__in=statuses)
        count = chosen.count()
        rows = []
        for run in chosen[:DONE_SHOWN] if key == "done" else chosen:
            stages = list(run.stages.all())
            rows.append({"run": run, "stage": stages[-1] if stages else None, "age": _age(run.created_at)})
        groups.append({"key": key, "label": label, "count": count, "rows": rows})
    return {"groups": groups, "total": sum(group["count"] for group in groups)}


@login_required
@require_http_methods(["GET", "POST"])
def queue(request):
    shown = request.GET.get("status", "")
    if shown not in {key for key, _, _ in GROUPS}:
        shown = ""
    context = {"section": "factory", "shown": shown, **_queue_rows(request.user)}
    spec_text, spec_name, error, status = "", "", "", 200
    if request.method == "POST":
        spec_text = request.POST.get("spec", "").replace("\r\n", "\n")
        spec_name = request.POST.get("spec_name", "")[:120]
        try:
            run = factory_run_queue(requester=request.user, spec_text=spec_text, spec_name=spec_name)
        except (SpecInvalidError, FactoryPermissionError) as exc:
            error, status = exc.message, exc.status_code
        else:
            messages.success(request, f"Queued “{run.title}”. Its stages appear below as they run.")
            return redirect("factory-run", run_id=run.id)
    may_queue = user_may_queue(request.user)
    graduating = request.GET.get("graduate", "") if request.method == "GET" and may_queue else ""
    domain = Domain.objects.filter(name=graduating).first() if graduating else None
    if domain is not None and domain.name in CORE_RECORDS:
        spec_text, spec_name = graduation_spec_text(domain=domain), f"{domain.name}-graduation.md"
    context.update(
        may_queue=may_queue,
        refusal="" if may_queue else _queue_refusal(request.user),
        templates=spec_templates() if may_queue else [],
        format_html=spec_format_html() if may_queue else "",
        spec_text=spec_text,
        spec_name=spec_name,
        errors=[line for line in error.splitlines() if line.strip()],
        editor_open=bool(error or spec_text) or (may_queue and context["total"] == 0) or "new" in request.GET,
    )
    return render(request, "factory/queue.html", context, status=status)


@login_required
@require_POST
def spec_preview(request):
    """The spec as it will be read: rendered body plus what the parser makes of it, for the live editor."""
    text = request.POST.get("spec", "").replace("\r\n", "\n")
    if len(text) > MAX_SPEC_CHARS:
        return JsonResponse({"ok": False, "problems": [f"The spec is longer than {MAX_SPEC_CHARS:,} characters."]})
    body = re.sub(r"\A---[ \t]*\n.*?\n---[ \t]*(\n|\Z)", "", text, count=1, flags=re.DOTALL)
    answer = {"html": markdown_to_safe_html(body) if body.strip() else ""}
    try:
        spec = spec_parse(text, source=request.POST.get("spec_name") or "the spec")
    except SpecError as exc:
        return JsonResponse({**answer, "ok": False, "problems": [str(p) for p in exc.problems]})
    summary = {"kind": spec.kind, "name": spec.name, "title": spec.title}
    if spec.kind == "skill":
        summary.update(domain=spec.domain, tools=spec.tools, examples=len(spec.examples))
    else:
        summary.update(endpoints=[f"{e.method} {e.path}" for e in spec.endpoints], rules=len(spec.rules))
    return JsonResponse({**answer, "ok": True, "spec": summary})


# --- a run -------------------------------------------------------------------------------------


def _timeline(run: FactoryRun, stages: list[FactoryStage]) -> list[dict]:
    items = [
        {
            "stage": stage,
            "duration": _duration(stage.duration_ms),
            "round": stage.iteration,
            "log_lines": stage.log.count("\n"),
        }
        for stage in stages
    ]
    if not run.is_finished:
        # The stages still ahead, so people see how far the run has to go.
        last = stages[-1].name if stages else None
        if last is None:
            ahead = PIPELINE
        elif last == StageName.REMEDIATE:
            ahead = PIPELINE[1:]
        elif last == StageName.REVIEW and stages[-1].status == StageStatus.FAILED:
            ahead = [StageName.REMEDIATE, *PIPELINE[1:]]
        else:
            ahead = PIPELINE[PIPELINE.index(last) + 1 :]
        items += [{"pending": True, "label": StageName(name).label, "name": name} for name in ahead]
    return items


def _gate(run: FactoryRun, stages: list[FactoryStage]) -> dict:
    gate = next((s for s in reversed(stages) if s.name == StageName.GATE and s.detail.get("tier")), None)
    detail = gate.detail if gate else {}
    requires = detail.get("requires") or (tier_requirements(run.tier, run.kind) if run.tier_id else [])
    return {
        "stage": gate,
        "requires": requires,
        "changed": detail.get("changed", []),
        "policies": detail.get("policies"),
    }


def _findings(run: FactoryRun) -> dict:
    findings = sorted(
        factory_run_findings(run=run),
        key=lambda f: (bool(f.fixed_in_sha), f.sha != run.head_sha, -SEVERITY_RANK[f.severity], f.path, f.line or 0),
    )
    threshold = SEVERITY_RANK[run.tier.blocking_severity] if run.tier_id else None
    rows = [
        {
            "finding": f,
            "blocking": threshold is not None and not f.fixed_in_sha and SEVERITY_RANK[f.severity] >= threshold,
            "current": f.sha == run.head_sha,
        }
        for f in findings
    ]
    return {
        "rows": rows,
        "open": sum(1 for f in findings if not f.fixed_in_sha and f.sha == run.head_sha),
        "fixed": sum(1 for f in findings if f.fixed_in_sha),
        "blocking": sum(1 for row in rows if row["blocking"] and row["current"]),
    }


def _approvals(run: FactoryRun, user) -> dict:
    valid = {a.pk for a in approvals_valid(run)}
    rows = []
    for approval in run.approvals.select_related("approver"):
        if approval.pk in valid:
            note = "counts"
        elif approval.decision == Decision.REJECT:
            note = "rejected"
        elif approval.sha != run.head_sha:
            note = "void: an older commit"
        else:
            note = "void: the requester's own"
        rows.append(
            {"approval": approval, "counts": approval.pk in valid, "note": note, "age": _age(approval.created_at)}
        )
    # As the deploy check counts them: a tier that does not deploy on its own needs at least one.
    need = max(run.tier.required_approvals, 0 if run.tier.auto_deploy else 1) if run.tier_id else 0
    waiting = run.status == RunStatus.WAITING
    reason = ""
    if waiting:
        if user.pk == run.requester_id and run.tier_id and not run.tier.requester_may_approve:
            reason = (
                f"You requested this run: a {run.tier.name}-tier change needs someone else's approval, "
                "from an ops manager or an admin."
            )
        elif not user_may_approve(user):
            reason = (
                "Approving needs the ops manager or admin role; an ops manager of your organisation can approve it."
            )
        elif run.approvals.filter(approver=user, sha=run.head_sha).exists():
            reason = f"You have already decided on {run.head_sha[:10]}; it waits for the other approvals."
    return {"rows": rows, "have": len(valid), "need": need, "waiting": waiting, "reason": reason}


def _deployments(run: FactoryRun) -> dict:
    deployments = list(run.deployments.all())
    return {
        "latest": deployments[0] if deployments else None,
        "history": deployments[1:],
        "live": deployment_live(run=run),
    }


def _test_stage(stages: list[FactoryStage]) -> FactoryStage | None:
    return next((s for s in reversed(stages) if s.name == StageName.TEST), None)


@login_required
@require_GET
def run_detail(request, run_id):
    run = _run_or_404(request, run_id)
    stages = factory_run_stages(run=run)
    may_approve = user_may_approve(request.user)
    context = {
        "section": "factory",
        "run": run,
        "timeline": _timeline(run, stages),
        "gate": _gate(run, stages),
        "diff": factory_run_diff(run=run),
        "findings": _findings(run),
        "test": _test_stage(stages),
        "approvals": _approvals(run, request.user),
        "deployments": _deployments(run),
        "may_approve": may_approve,
        "may_stop": not run.is_finished and (request.user.pk == run.requester_id or may_approve),
        "duration": _run_duration(run),
    }
    return render(request, "factory/run.html", context)


def _run_duration(run: FactoryRun) -> str:
    if not run.started_at:
        return ""
    if run.finished_at:
        return _duration((run.finished_at - run.started_at).total_seconds() * 1000)
    return _duration((timezone.now() - run.started_at).total_seconds() * 1000) + " so far"


def _back(run: FactoryRun):
    return redirect("factory-run", run_id=run.id)


@login_required
@require_POST
def run_approve(request, run_id):
    run = _run_or_404(request, run_id)
    approve = request.POST.get("decision") != "reject"
    try:
        factory_run_approve(
            run=run,
            user=request.user,
            sha=request.POST.get("sha", "").strip(),
            approve=approve,
            comment=request.POST.get("comment", "").strip()[:2000],
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        sha = request.POST["sha"][:10]
        messages.success(request, f"You approved {sha}." if approve else f"You rejected {sha}; the run has stopped.")
    return _back(run)


@login_required
@require_POST
def run_stop(request, run_id):
    run = _run_or_404(request, run_id)
    try:
        factory_run_stop(run=run, user=request.user, reason=request.POST.get("reason", "").strip()[:500])
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "The run was stopped.")
    return _back(run)


DEPLOYMENT_DONE = {
    "stop": "Stopped {target}.",
    "restart": "Restarted {target}.",
    "rollback": "Rolled {target} back to the deployment before this one.",
}


@login_required
@require_POST
def deployment_action(request, run_id, deployment_id: int, action: str):
    run = _run_or_404(request, run_id)
    deployment = run.deployments.filter(pk=deployment_id).first()
    if deployment is None or action not in DEPLOYMENT_DONE:
        raise Http404("No such deployment of this run.")
    try:
        deployment_act(user=request.user, deployment=deployment, action=action)
    except FactoryPermissionError as exc:
        raise PermissionDenied(exc.message) from exc
    except (DeployError, ApplicationError) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, DEPLOYMENT_DONE[action].format(target=deployment.target))
    return _back(run)


# --- the risk policy ---------------------------------------------------------------------------


def _admin_url(name: str) -> str:
    try:
        return reverse(name)
    except NoReverseMatch:
        return ""


@login_required
@require_GET
def policy(request):
    from factory.policy import DEFAULT_TIER_RULE_ID

    tiers, default_tier = [], None
    for tier, rules in risk_policy_overview():
        default = next((r for r in rules if r.rule_id == DEFAULT_TIER_RULE_ID), None)
        if default is not None:
            default_tier = tier
        tiers.append(
            {
                "tier": tier,
                "rules": [r for r in rules if r.rule_id != DEFAULT_TIER_RULE_ID],
                "is_default": default is not None,
            }
        )
    admin = {}
    if request.user.is_staff:
        admin = {
            "tiers": _admin_url("admin:factory_risktier_changelist"),
            "rules": _admin_url("admin:factory_riskrule_changelist"),
            "import": _admin_url("admin:factory_riskrule_import"),
            "export": _admin_url("admin:factory_riskrule_export"),
        }
    return render(
        request,
        "factory/policy.html",
        {
            "section": "factory",
            "tiers": tiers,
            "default_tier": default_tier,
            "rule_count": sum(len(t["rules"]) for t in tiers),
            "admin": admin,
        },
    )
