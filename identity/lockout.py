"""Login lockout (django-axes): repeated password failures for one username from one address.

Only password sign-ins count and are checked: an SSO callback or an API token carries no
username/password pair, so it is neither recorded nor refused here (the provider has its own
limits, a token is a long random secret). The locked-out person sees the sign-in page again,
with the reason and when to try again, and a 429.
"""

import math

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.forms import AuthenticationForm
from django.shortcuts import render


def not_a_password_attempt(request, credentials) -> bool:
    """Axes' whitelist: an attempt without a username (e.g. an OIDC callback) is not a guess."""
    return not (credentials or {}).get(settings.AXES_USERNAME_FORM_FIELD)


class LockoutBackend(AxesStandaloneBackend):
    """Axes' check before the real backends. An `authenticate()` without a request (a command, a
    test) has no address to count against, and is let through to the real backends."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def lockout_message(cool_off_minutes: int | None) -> str:
    if not cool_off_minutes:
        return "Too many failed sign-in attempts for this username. Ask an Aspora admin to unlock it."
    unit = "minute" if cool_off_minutes == 1 else "minutes"
    return (
        f"Too many failed sign-in attempts for this username from your network. "
        f"Try again in {cool_off_minutes} {unit}, or ask an Aspora admin to unlock it."
    )


def lockout_response(request, *args, **kwargs):
    """The sign-in page with the lockout reason. Axes calls this with (request, response,
    credentials) from its sync middleware and (request, credentials) from its async one."""
    cool_off = get_cool_off(request)
    minutes = math.ceil(cool_off.total_seconds() / 60) if cool_off else None
    # Unbound: validating a bound form would authenticate, and so count, once more.
    form = AuthenticationForm(request, initial={"username": request.POST.get("username", "")[:150]})
    messages.error(request, lockout_message(minutes))
    context = {"form": form, "next": request.POST.get("next") or request.GET.get("next", "")}
    return render(request, "registration/login.html", context, status=settings.AXES_HTTP_RESPONSE_CODE)
