"""HTTP glue of the bridges: Slack's endpoints (through bolt) and the page that links a Slack account or a
WhatsApp number to the signed-in person."""

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_required
from django.db import close_old_connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from bridges.services import ChannelLinkError, channel_link_confirm, channel_link_token_check
from bridges.slack.ack import NOT_CONFIGURED, slack_request_accept
from bridges.slack.app import slack_handler
from bridges.slack.config import slack_config


@csrf_exempt
async def slack_events(request: HttpRequest) -> HttpResponse:
    """Events, slash commands and interactivity: verify, dedupe, queue, and answer 200 at once.

    Under ASGI the shortcut in `bridges/slack/asgi.py` answers this address before Django's
    middleware; this view is the same path for every other way in (the test client, WSGI).
    """
    ack = await slack_request_accept(
        config=slack_config(),
        method=request.method or "",
        headers={name.lower(): value for name, value in request.headers.items()},
        body=request.body,
    )
    return HttpResponse(status=ack.status) if ack.body is None else JsonResponse(ack.body, status=ack.status)


def _slack_handle(request: HttpRequest) -> HttpResponse:
    handler = slack_handler()
    if handler is None:
        return JsonResponse({"ok": False, "error": "slack_not_configured", "message": NOT_CONFIGURED}, status=503)
    try:
        return handler.handle(request)
    finally:
        close_old_connections()


@csrf_exempt
async def slack_oauth(request: HttpRequest) -> HttpResponse:
    """The OAuth install and redirect pages, through bolt on a thread of their own (they use the database)."""
    return await sync_to_async(_slack_handle, thread_sensitive=False)(request)


@login_required
@require_http_methods(["GET", "POST"])
def channel_link(request: HttpRequest, provider: str, token: str) -> HttpResponse:
    """GET shows what would be linked and asks to confirm; POST links it to the signed-in person."""
    context = {"section": "", "provider": provider, "linked": None, "error": None, "invite": None}
    try:
        if request.method == "POST":
            context["linked"] = channel_link_confirm(provider=provider, raw=token, user=request.user)
        else:
            context["invite"] = channel_link_token_check(provider=provider, raw=token)
    except ChannelLinkError as exc:
        context["error"] = exc.message
        return render(request, "bridges/channel_link.html", context, status=exc.status_code)
    return render(request, "bridges/channel_link.html", context)
