"""`/metrics` for Prometheus: a bearer token (`ASPORA_METRICS_TOKEN`) or a staff session."""

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from aspora.observability.metrics import metrics_exposition


def _bearer(request: HttpRequest) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    token = _bearer(request)
    if token is not None:
        expected = settings.ASPORA_METRICS_TOKEN
        if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
            return HttpResponse("Invalid metrics token.\n", status=401, content_type="text/plain")
    elif not request.user.is_authenticated:
        response = HttpResponse(
            "Send 'Authorization: Bearer <ASPORA_METRICS_TOKEN>' or sign in as staff.\n",
            status=401,
            content_type="text/plain",
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    elif not request.user.is_staff:
        return HttpResponse("Metrics are for staff.\n", status=403, content_type="text/plain")
    return HttpResponse(metrics_exposition(), content_type=CONTENT_TYPE_LATEST)
