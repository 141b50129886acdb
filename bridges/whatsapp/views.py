"""`/whatsapp/webhook`: verify, acknowledge, and hand the work to the background."""

import hashlib
import hmac
import json
import threading

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from aspora.celery import app as celery_app
from aspora.observability.tracing import trace_carrier
from bridges.whatsapp.config import whatsapp_config, whatsapp_missing
from bridges.whatsapp.services import message_sent_at, whatsapp_inbound_claim, whatsapp_inbound_handle_safely
from bridges.whatsapp.tasks import whatsapp_inbound_handle_task


def whatsapp_dispatch(**kwargs) -> None:
    """In production a Celery task; on the embedded default a thread, so the webhook still acks at once.
    Either way the work carries the webhook request's trace."""
    kwargs["trace"] = trace_carrier()
    if celery_app.conf.task_always_eager:
        config = whatsapp_config()
        threading.Thread(
            target=whatsapp_inbound_handle_safely,
            kwargs={"config": config, **kwargs},
            name="whatsapp-inbound",
            daemon=True,
        ).start()
    else:
        whatsapp_inbound_handle_task.delay(**kwargs)


def _messages(payload: dict):
    for entry in payload.get("entry", []):
        for change in entry.get("changes", []):
            value = change.get("value", {})
            phone_number_id = value.get("metadata", {}).get("phone_number_id", "")
            for message in value.get("messages", []):
                yield phone_number_id, message


@csrf_exempt
def whatsapp_webhook(request):
    config = whatsapp_config()
    if config is None:
        return JsonResponse(
            {"error": "The WhatsApp bridge is not configured: set " + ", ".join(whatsapp_missing()) + "."}, status=503
        )
    if request.method == "GET":
        if request.GET.get("hub.mode") == "subscribe" and hmac.compare_digest(
            request.GET.get("hub.verify_token", ""), config.verify_token
        ):
            return HttpResponse(request.GET.get("hub.challenge", ""), content_type="text/plain")
        return JsonResponse({"error": "Verification failed: wrong mode or verify token."}, status=403)
    if request.method != "POST":
        return JsonResponse({"error": "Use GET for verification or POST for events."}, status=405)
    expected = "sha256=" + hmac.new(config.app_secret.encode(), request.body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(request.headers.get("X-Hub-Signature-256", ""), expected):
        return JsonResponse({"error": "Missing or invalid X-Hub-Signature-256."}, status=401)
    try:
        payload = json.loads(request.body)
    except ValueError:
        return JsonResponse({"error": "The body is not JSON."}, status=400)
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        return JsonResponse({"error": "Expected a whatsapp_business_account event."}, status=400)
    for phone_number_id, message in _messages(payload):
        if phone_number_id != config.phone_number_id:
            continue
        kind = message.get("type", "")
        text = message.get("text", {}).get("body", "") if kind == "text" else ""
        button_id = (
            message.get("interactive", {}).get("button_reply", {}).get("id", "") if kind == "interactive" else ""
        )
        if not (text or button_id):
            continue  # images, reactions, status updates: nothing to run
        inbound = whatsapp_inbound_claim(
            message_id=message.get("id", ""), phone_number_id=phone_number_id, sender=message.get("from", ""),
            kind=kind, sent_at=message_sent_at(message.get("timestamp")),
        )  # fmt: skip
        if inbound is not None:
            whatsapp_dispatch(inbound_id=inbound.pk, text=text, button_id=button_id)
    return JsonResponse({"status": "received"})
