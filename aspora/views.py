import json
import uuid

from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from aspora.health import readiness_report
from aspora.text import markdown_to_safe_html
from factory.graduation import domain_activity_list
from factory.services import user_may_queue
from skills.packs import example_texts
from skills.selectors import (
    conversation_get_for_user,
    conversation_list_for_user,
    conversation_runs,
    skill_list_for_context,
)
from tenants.context import Channel
from tenants.selectors import channel_identity_list_for_user, membership_list_for_user
from tenants.services import NoTeamError, asker_context_build


@require_GET
@never_cache
def healthz(request):
    return JsonResponse({"status": "ok"})


@require_GET
@never_cache
def readyz(request):
    report = readiness_report()
    down = {name: reason for name, reason in report.items() if reason != "ok"}
    if down:
        return JsonResponse({"status": "unavailable", "down": sorted(down), "checks": report}, status=503)
    return JsonResponse({"status": "ok", "checks": report})


@login_required
def dashboard(request):
    return render(
        request,
        "portal/dashboard.html",
        {
            "memberships": membership_list_for_user(user=request.user),
            "identities": channel_identity_list_for_user(user=request.user),
            "domains": domain_activity_list(tenant_id=request.user.tenant_id) if request.user.tenant_id else [],
            "may_queue": user_may_queue(request.user),
            "section": "dashboard",
        },
    )


def _run_view(run) -> dict:
    events = list(run.events.all())
    calls = {e.data.get("tool_call_id"): e.data for e in events if e.type == "run.tool_call"}
    results = {e.data.get("tool_call_id"): e.data for e in events if e.type == "run.tool_result"}
    return {
        "run": run,
        "answer_html": markdown_to_safe_html(run.answer) if run.answer else "",
        "tools": [
            {"name": call["name"], "args": json.dumps(call["args"]), "result": results.get(call_id)}
            for call_id, call in calls.items()
        ],
        "last_seq": events[-1].seq if events else 0,
    }


@login_required
def console(request):
    try:
        context = asker_context_build(user=request.user, channel=Channel.WEB)
    except NoTeamError:
        skills = []
    else:
        skills = skill_list_for_context(context=context)
    conversation = None
    if request.GET.get("c"):
        try:
            conversation = conversation_get_for_user(user=request.user, conversation_id=uuid.UUID(request.GET["c"]))
        except ValueError:
            conversation = None
    catalog = [
        {
            "name": s.name,
            "domain": s.domain.name,
            "description": s.current_version.description,
            "examples": example_texts(s.current_version.config)[:3],
            "confirms": bool(s.current_version.config.get("confirm")),
        }
        for s in skills
    ]
    return render(
        request,
        "portal/console.html",
        {
            "section": "console",
            "catalog": catalog,
            "conversations": conversation_list_for_user(user=request.user),
            "conversation": conversation,
            "runs": [_run_view(run) for run in conversation_runs(conversation=conversation)] if conversation else [],
        },
    )
