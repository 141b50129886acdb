"""Whether a websocket's session still stands: not signed out, not deactivated, same password.

A socket authenticates once, at connect. These checks are what Django's `get_user` does for every
request, done again on the session store itself (not the socket's cached copy), so a sign-out
elsewhere, a flushed session, a deactivated account or a changed password are all seen.
"""

import hashlib
from importlib import import_module

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.utils.crypto import constant_time_compare

SESSION_ENDED_REASONS = ("signed_out", "deactivated", "password_changed")


def session_digest(session_key: str | None) -> str:
    """What a logout broadcast names a session by: the key itself is a credential."""
    return hashlib.sha256((session_key or "").encode()).hexdigest()[:32]


def session_end_reason(*, session_key: str | None, user_id: int) -> str | None:
    """None while the session stands; otherwise one of `SESSION_ENDED_REASONS`."""
    if not session_key:
        return "signed_out"
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    data = store.load()
    signed_in = str(data.get(SESSION_KEY, "")) == str(user_id)
    if not signed_in or data.get(BACKEND_SESSION_KEY) not in settings.AUTHENTICATION_BACKENDS:
        return "signed_out"
    user = get_user_model().objects.filter(pk=user_id).only("password", "is_active").first()
    if user is None or not user.is_active:
        return "deactivated"
    stored = data.get(HASH_SESSION_KEY) or ""
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    if not any(constant_time_compare(stored, user._get_session_auth_hash(secret=secret)) for secret in secrets):
        return "password_changed"
    return None
