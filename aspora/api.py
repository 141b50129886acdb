"""The NinjaAPI mounted at /api/: one router per app, session or personal-token auth on all of them.

Errors are RFC 7807 problem documents (`application/problem+json`) with a message a person can act on.
"""

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import APIKeyHeader, HttpBearer, django_auth

from aspora.errors import ApplicationError
from factory.api import router as factory_router
from skills.api import router as skills_router
from tenants.api import router as tenants_router
from tenants.services import api_token_authenticate
from usage.api import router as usage_router

logger = logging.getLogger(__name__)


class BearerTokenAuth(HttpBearer):
    openapi_description = "A personal API token (`asp_…`), created in the admin or by `manage.py create_token`."

    def authenticate(self, request: HttpRequest, token: str):
        user = api_token_authenticate(raw=token)
        if user is not None:
            request.user = user
        return user


class HeaderTokenAuth(APIKeyHeader):
    param_name = "X-API-Key"

    def authenticate(self, request: HttpRequest, key: str | None):
        user = api_token_authenticate(raw=key) if key else None
        if user is not None:
            request.user = user
        return user


api = NinjaAPI(
    title="Aspora API",
    version="1.0.0",
    description="Skills, runs and the Code Factory of the Aspora operations portal.",
    # Tokens first: session auth checks CSRF before anything else, which would refuse every
    # token-authenticated POST (they carry no CSRF cookie, and need none).
    auth=[BearerTokenAuth(), HeaderTokenAuth(), django_auth],
    urls_namespace="api",
)


def _problem(request: HttpRequest, *, status: int, title: str, detail: str, **extra):
    response = api.create_response(
        request, {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}, status=status
    )
    response["Content-Type"] = "application/problem+json"
    return response


@api.exception_handler(ApplicationError)
def application_error(request, exc: ApplicationError):
    response = _problem(request, status=exc.status_code, title=type(exc).__name__, detail=exc.message, **exc.extra)
    if "retry_after" in exc.extra:  # a rate limit (usage/services.py) says when to come back
        response["Retry-After"] = str(exc.extra["retry_after"])
    return response


@api.exception_handler(AuthenticationError)
def authentication_error(request, exc):
    return _problem(
        request,
        status=401,
        title="Unauthorized",
        detail="Sign in, or send a personal API token as 'Authorization: Bearer asp_…'.",
    )


@api.exception_handler(ValidationError)
def validation_error(request, exc: ValidationError):
    return _problem(
        request, status=422, title="Invalid request", detail="The request did not validate.", errors=exc.errors
    )


@api.exception_handler(HttpError)
def http_error(request, exc: HttpError):
    return _problem(request, status=exc.status_code, title="Error", detail=str(exc))


def database_unavailable(request, exc: Exception):
    """The database is down or restarting: say so with a 503 at once (the pool waits at most its
    timeout), not a bare 500, so clients retry (docs/drills.md)."""
    logger.warning("API request failed: database unavailable (%s)", type(exc).__name__)
    response = _problem(
        request,
        status=503,
        title="Service unavailable",
        detail="The database is unavailable right now; nothing was changed. Try again in a few seconds.",
    )
    response["Retry-After"] = "5"
    return response


api.add_exception_handler(OperationalError, database_unavailable)
api.add_exception_handler(InterfaceError, database_unavailable)


api.add_router("/", tenants_router)
api.add_router("/", skills_router)
api.add_router("/factory", factory_router)
api.add_router("/", usage_router)
