"""Single sign-on through OpenID Connect, on mozilla-django-oidc.

Switched on by settings alone (`sso_enabled`): a client id and secret, and either the provider's
issuer (its endpoints are then read from its discovery document) or the endpoints themselves.
The library's token check is tightened here: the ID token's signature, `alg`, audience (and
`azp`), issuer, expiry and nonce are all verified, and the userinfo answer must be about the same
subject. A refusal is shown on the sign-in page; a password sign-in never reaches the provider.
"""

import logging
import time
from dataclasses import dataclass

import jwt
import requests
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpResponseRedirect
from django.urls import reverse
from django.views.generic import View
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from aspora.errors import ApplicationError
from identity.services import sso_user_sync

logger = logging.getLogger(__name__)

DISCOVERY_TTL_SECONDS = 3600
_ENDPOINTS = {
    "authorization_endpoint": "OIDC_OP_AUTHORIZATION_ENDPOINT",
    "token_endpoint": "OIDC_OP_TOKEN_ENDPOINT",
    "userinfo_endpoint": "OIDC_OP_USER_ENDPOINT",
    "jwks_uri": "OIDC_OP_JWKS_ENDPOINT",
}
_discovered: dict[str, tuple[float, dict]] = {}


class SsoUnavailableError(ApplicationError):
    status_code = 503


@dataclass(frozen=True)
class ProviderConfig:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str
    jwks_uri: str


def sso_enabled() -> bool:
    if not (settings.OIDC_RP_CLIENT_ID and settings.OIDC_RP_CLIENT_SECRET):
        return False
    return bool(settings.OIDC_OP_ISSUER) or all(getattr(settings, name) for name in _ENDPOINTS.values())


def _discovery(issuer: str) -> dict:
    cached = _discovered.get(issuer)
    if cached and time.monotonic() - cached[0] < DISCOVERY_TTL_SECONDS:
        return cached[1]
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT, verify=settings.OIDC_VERIFY_SSL)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise SsoUnavailableError(f"{settings.OIDC_PROVIDER_NAME} cannot be reached right now ({url}).") from exc
    if document.get("issuer") != issuer:
        # OpenID Connect Discovery §4.3: a document naming another issuer must not be used.
        raise SsoUnavailableError(
            f"{url} names the issuer {document.get('issuer')!r}, not {issuer!r}; check OIDC_OP_ISSUER."
        )
    _discovered[issuer] = (time.monotonic(), document)
    return document


def provider_config() -> ProviderConfig:
    """Endpoints set in settings win; the others come from the issuer's discovery document."""
    explicit = {key: getattr(settings, name) for key, name in _ENDPOINTS.items()}
    issuer = settings.OIDC_OP_ISSUER
    if issuer and not all(explicit.values()):
        document = _discovery(issuer)
        explicit = {key: value or document.get(key, "") for key, value in explicit.items()}
    missing = [_ENDPOINTS[key] for key, value in explicit.items() if not value]
    if missing:
        raise SsoUnavailableError(f"Single sign-on is missing {', '.join(missing)}.")
    return ProviderConfig(issuer=issuer, **explicit)


def _not_verified() -> str:
    return (
        f"Sign-in with {settings.OIDC_PROVIDER_NAME} failed: its answer could not be verified. "
        "Try again; if it keeps failing, tell an Aspora admin."
    )


def _login_url() -> str:
    return reverse(settings.LOGIN_URL)


class SsoBackend(OIDCAuthenticationBackend):
    """Inert unless the request is an OpenID Connect callback and SSO is configured."""

    def __init__(self, *args, **kwargs):
        # The library reads endpoints here; this backend is built for every password sign-in
        # too, which must not wait on (or fail with) the provider, so they are read in authenticate.
        self.UserModel = get_user_model()
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        self.OIDC_RP_CLIENT_SECRET = settings.OIDC_RP_CLIENT_SECRET
        self.OIDC_RP_SIGN_ALGO = settings.OIDC_RP_SIGN_ALGO
        self.OIDC_RP_IDP_SIGN_KEY = None
        self.issuer = ""

    def authenticate(self, request, **kwargs):
        if request is None or not sso_enabled() or "code" not in request.GET or "state" not in request.GET:
            return None
        try:
            config = provider_config()
            self.issuer = config.issuer
            self.OIDC_OP_TOKEN_ENDPOINT = config.token_endpoint
            self.OIDC_OP_USER_ENDPOINT = config.userinfo_endpoint
            self.OIDC_OP_JWKS_ENDPOINT = config.jwks_uri
            return super().authenticate(request, **kwargs)
        except ApplicationError as exc:
            logger.info("SSO sign-in refused: %s", exc.message)
            messages.error(request, exc.message)
        except (SuspiciousOperation, requests.RequestException, ValueError) as exc:
            logger.warning("SSO sign-in failed verification: %s", exc)
            messages.error(request, _not_verified())
        return None

    def _verify_jws(self, payload, key):
        """The library checks the signature only; audience, issuer and expiry are checked here."""
        try:
            header = jwt.get_unverified_header(payload)
        except jwt.InvalidTokenError as exc:
            raise SuspiciousOperation(f"Malformed token: {exc}") from exc
        if header.get("alg") != self.OIDC_RP_SIGN_ALGO:
            raise SuspiciousOperation(f"Token alg {header.get('alg')!r} is not {self.OIDC_RP_SIGN_ALGO!r}.")
        try:
            claims = jwt.decode(
                payload,
                key,
                algorithms=[self.OIDC_RP_SIGN_ALGO],
                audience=self.OIDC_RP_CLIENT_ID,
                issuer=self.issuer or None,
                leeway=settings.OIDC_LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "aud", "sub"]},
            )
        except jwt.InvalidTokenError as exc:
            raise SuspiciousOperation(f"Token refused: {exc}") from exc
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.OIDC_RP_CLIENT_ID:
            raise SuspiciousOperation("Token for several audiences without this client as its azp.")
        return claims

    def get_userinfo(self, access_token, id_token, payload):
        userinfo = super().get_userinfo(access_token, id_token, payload)
        if userinfo.get("sub") != payload.get("sub"):
            # OpenID Connect Core §5.3.2: a userinfo answer about someone else must not be used.
            raise SuspiciousOperation("The userinfo subject differs from the ID token's.")
        return {**payload, **userinfo}

    def get_or_create_user(self, access_token, id_token, payload):
        try:
            claims = self.get_userinfo(access_token, id_token, payload)
        except SuspiciousOperation as exc:
            # The library would swallow this one silently; the person is told, like any other refusal.
            logger.warning("SSO sign-in failed verification: %s", exc)
            raise ApplicationError(_not_verified()) from exc
        return sso_user_sync(issuer=self.issuer or self.OIDC_OP_TOKEN_ENDPOINT, claims=claims)


class SsoStartView(OIDCAuthenticationRequestView):
    """Sends the browser to the provider, with state, nonce and a PKCE challenge kept in the session."""

    def __init__(self, *args, **kwargs):
        View.__init__(self, *args, **kwargs)
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID

    def get(self, request):
        if not sso_enabled():
            raise Http404("Single sign-on is not configured.")
        try:
            self.OIDC_OP_AUTH_ENDPOINT = provider_config().authorization_endpoint
        except SsoUnavailableError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(_login_url())
        return super().get(request)


class SsoCallbackView(OIDCAuthenticationCallbackView):
    """The provider's answer: signs the person in, or back to the sign-in page saying why not."""

    @property
    def failure_url(self):
        return _login_url()

    def get(self, request):
        if not sso_enabled():
            raise Http404("Single sign-on is not configured.")
        try:
            response = super().get(request)
        except SuspiciousOperation as exc:
            # An unknown or replayed state: this answer does not belong to a sign-in this browser started.
            logger.warning("SSO callback refused: %s", exc)
            messages.error(
                request,
                f"That sign-in with {settings.OIDC_PROVIDER_NAME} was not started from this browser, "
                "or was already used. Start again.",
            )
            return HttpResponseRedirect(_login_url())
        if response.url == self.failure_url and not messages.get_messages(request):
            reason = request.GET.get("error_description") or request.GET.get("error") or "it did not complete"
            messages.error(request, f"Sign-in with {settings.OIDC_PROVIDER_NAME} failed: {reason[:200]}.")
        return response


__all__ = ["SsoBackend", "SsoCallbackView", "SsoStartView", "provider_config", "sso_enabled"]
