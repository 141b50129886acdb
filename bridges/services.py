"""Self-service linking, shared by the Slack and WhatsApp bridges.

- A link token is random, single use, expiring and bound to one provider; only its SHA-256 digest
  is stored, and the plaintext goes out once, in the bot's reply to that account or number.
- Confirming is one transaction: the token row is locked, marked used and the `ChannelIdentity`
  created together, so two tabs confirming at once link once.
- An account or number speaks for one portal user only: a token never moves an existing link.
"""

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from aspora.errors import ApplicationError
from bridges.models import ChannelLinkToken
from tenants.models import ChannelIdentity, User

Provider = ChannelIdentity.Provider

# What the person does to get a fresh link, and what the linked thing is called, per provider.
_AGAIN = {
    Provider.SLACK: "Mention the Aspora bot in Slack to get a new one.",
    Provider.WHATSAPP: "Send Aspora a WhatsApp message to get a new one.",
}
_ACCOUNT = {Provider.SLACK: "Slack account", Provider.WHATSAPP: "WhatsApp number"}


class ChannelLinkError(ApplicationError):
    status_code = 409


class ChannelLinkNotFoundError(ChannelLinkError):
    status_code = 404


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def channel_link_token_create(
    *, provider: str, workspace: str, external_user_id: str, ttl_seconds: int
) -> tuple[ChannelLinkToken, str]:
    """A new link invitation and its only plaintext copy (it goes into the bot's reply, nowhere else)."""
    if provider not in Provider.values:
        raise ValueError(f"unknown channel provider {provider!r}: expected one of {', '.join(Provider.values)}")
    raw = secrets.token_urlsafe(32)
    token = ChannelLinkToken.objects.create(
        digest=_digest(raw),
        provider=provider,
        workspace=workspace,
        external_user_id=external_user_id,
        expires_at=timezone.now() + timedelta(seconds=ttl_seconds),
    )
    return token, raw


def channel_link_url(*, provider: str, raw: str, public_url: str) -> str:
    """The absolute address of the page that confirms a link, as the bot sends it."""
    return public_url.rstrip("/") + reverse(f"bridges:{provider}_link", kwargs={"token": raw})


def channel_link_token_check(*, provider: str, raw: str) -> ChannelLinkToken:
    """The token behind a link of this provider, or an error that says what to do instead.

    A token of another provider is "not valid" here: a WhatsApp link never links a Slack account.
    """
    again = _AGAIN[provider]
    token = ChannelLinkToken.objects.filter(digest=_digest(raw), provider=provider).first()
    if token is None:
        raise ChannelLinkNotFoundError(f"This link is not valid. {again}")
    if token.used_at is not None:
        raise ChannelLinkError(f"This link has already been used. {again}")
    if token.expires_at <= timezone.now():
        raise ChannelLinkError(f"This link has expired. {again}")
    return token


@transaction.atomic
def channel_link_confirm(*, provider: str, raw: str, user: User) -> ChannelIdentity:
    """Link the token's account or number to `user`, once."""
    token = channel_link_token_check(provider=provider, raw=raw)
    token = ChannelLinkToken.objects.select_for_update().get(pk=token.pk)
    if token.used_at is not None:
        raise ChannelLinkError(f"This link has already been used. {_AGAIN[provider]}")
    identity = ChannelIdentity.objects.filter(
        provider=provider, workspace=token.workspace, external_user_id=token.external_user_id
    ).first()
    if identity is not None and identity.user_id != user.pk:
        raise ChannelLinkError(
            f"This {_ACCOUNT[provider]} is already linked to another portal user. "
            "Ask an admin to move it if that is wrong."
        )
    if identity is None:
        identity = ChannelIdentity.objects.create(
            provider=provider, workspace=token.workspace, external_user_id=token.external_user_id, user=user
        )
    token.used_at, token.used_by = timezone.now(), user
    token.save(update_fields=["used_at", "used_by"])
    return identity
