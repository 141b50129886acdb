from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from aspora.health import readiness_report
from tenants.selectors import channel_identity_list_for_user, membership_list_for_user


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
    return render(request, "portal/console.html", {"section": "console"})


@login_required
def factory(request):
    return render(request, "portal/factory.html", {"section": "factory"})
