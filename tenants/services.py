"""Writes for tenants: API tokens, asker contexts, the demo seed.

Token secrets exist in memory only while being handed to their owner; the database keeps a
SHA-256 digest. Every function is safe to call inside a transaction.
"""

import hashlib
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta

from django.utils import timezone

from aspora.errors import ApplicationError
from tenants.context import AskerContext
from tenants.models import ApiToken, Team, User
from tenants.selectors import team_primary_for_user

TOKEN_PREFIX = "asp"  # noqa: S105 - a public marker, not a secret
LAST_USED_RESOLUTION = timedelta(minutes=1)


class NoTeamError(ApplicationError):
    status_code = 403


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def api_token_create(*, user: User, name: str, expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """Create a token and return it with its only plaintext copy."""
    prefix = secrets.token_hex(4)
    raw = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(user=user, name=name, prefix=prefix, digest=_digest(raw), expires_at=expires_at)
    return token, raw


def api_token_authenticate(*, raw: str) -> User | None:
    """The token's owner (with their tenant, which every run's context needs), or None.

    `last_used_at` is kept to the minute (`LAST_USED_RESOLUTION`): a client calling many times a
    minute does not turn every request into a write."""
    token = (
        ApiToken.objects.select_related("user", "user__tenant")
        .filter(digest=_digest(raw), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.expires_at and token.expires_at <= now:
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def api_token_revoke(*, token: ApiToken) -> ApiToken:
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    return token


def asker_context_build(
    *,
    user: User,
    channel: str,
    team: Team | None = None,
    team_slug: str | None = None,
    extra: Mapping[str, object] | None = None,
) -> AskerContext:
    """The context a run executes with. A named team (object or slug) must be one the user belongs to."""
    if team_slug:
        team = user.teams.filter(slug=team_slug, tenant_id=user.tenant_id).first()
        if team is None:
            raise NoTeamError(f"{user.username} is not in a team with the slug {team_slug!r}.")
    if team is not None and not user.memberships.filter(team=team, team__tenant_id=user.tenant_id).exists():
        raise NoTeamError(f"{user.username} is not a member of the team {team.name!r}.")
    team = team or team_primary_for_user(user=user)
    if team is None or user.tenant is None:
        raise NoTeamError(f"{user.username} belongs to no team, so there is no context to run in.")
    return AskerContext(user=user, team=team, tenant=user.tenant, channel=channel, extra=dict(extra or {}))
