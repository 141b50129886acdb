from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from aspora.health import readiness_report
from skills.selectors import skill_list_for_context
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
            "section": "dashboard",
        },
    )


@login_required
def console(request):
    try:
        context = asker_context_build(user=request.user, channel=Channel.WEB)
    except NoTeamError:
        skills = []
    else:
        skills = skill_list_for_context(context=context)
    return render(request, "portal/console.html", {"section": "console", "skills": skills})


@login_required
def factory(request):
    return render(request, "portal/factory.html", {"section": "factory"})
