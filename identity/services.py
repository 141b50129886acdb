"""Writes for sign-on: the provider's claims become a person, their tenant, teams and roles.

Called at every SSO sign-in, so a change at the provider (a new group, a removed one, a new
display name) reaches Aspora the next time the person signs in. Refusals are `SsoRefusedError`s
whose message says what to do, shown on the sign-in page.
"""

from collections.abc import Mapping

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from aspora.errors import ApplicationError
from identity.models import SsoGroupRule, SsoIdentity
from tenants.models import Membership, Role, Tenant, User

# When several rules grant one team, the strongest role wins.
ROLE_STRENGTH = [Role.FIELD_AGENT, Role.ANALYST, Role.MANAGER, Role.OPS_MANAGER, Role.PRODUCT_MANAGER, Role.ADMIN]


class SsoRefusedError(ApplicationError):
    status_code = 403


def _provider() -> str:
    return settings.OIDC_PROVIDER_NAME


def _claim_str(claims: Mapping, name: str) -> str:
    value = claims.get(name)
    return value.strip() if isinstance(value, str) else ""


def sso_claim_groups(*, claims: Mapping) -> list[str]:
    """The groups claim as a list: providers send a list, a single string or nothing."""
    value = claims.get(settings.ASPORA_OIDC_GROUPS_CLAIM)
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list | tuple):
        return [str(item) for item in value if isinstance(item, str | int) and str(item)]
    return []


def _tenant_and_roles(*, groups: list[str]) -> tuple[Tenant, dict[int, str]]:
    rules = list(SsoGroupRule.objects.filter(group__in=groups).select_related("team__tenant"))
    tenants = {rule.team.tenant for rule in rules}
    if not tenants:
        shown = ", ".join(sorted(groups)[:10]) or "none"
        raise SsoRefusedError(
            f"Your {_provider()} account is in no group that Aspora maps to a tenant (your groups: {shown}). "
            "Ask an Aspora admin to add an SSO group rule for one of them."
        )
    if len(tenants) > 1:
        names = ", ".join(sorted(tenant.name for tenant in tenants))
        raise SsoRefusedError(
            f"Your {_provider()} groups map to more than one tenant ({names}); a person belongs to one. "
            "Ask an Aspora admin to correct the SSO group rules."
        )
    roles: dict[int, str] = {}
    for rule in rules:
        current = roles.get(rule.team_id)
        if current is None or ROLE_STRENGTH.index(rule.role) > ROLE_STRENGTH.index(current):
            roles[rule.team_id] = rule.role
    return tenants.pop(), roles


def _user_for(*, issuer: str, subject: str, claims: Mapping) -> tuple[User, SsoIdentity | None]:
    link = SsoIdentity.objects.select_for_update().select_related("user").filter(issuer=issuer, subject=subject).first()
    if link is not None:
        return link.user, link
    email = _claim_str(claims, "email")
    if email and claims.get("email_verified") is not False:
        matches = list(User.objects.filter(email__iexact=email)[:2])
        if len(matches) == 2:
            raise SsoRefusedError(
                f"More than one Aspora account has the email {email}; ask an Aspora admin to merge them."
            )
        if matches:
            return matches[0], None
    username = _claim_str(claims, settings.ASPORA_OIDC_USERNAME_CLAIM) or email
    if not username:
        raise SsoRefusedError(
            f"{_provider()} sent neither a {settings.ASPORA_OIDC_USERNAME_CLAIM} nor an email claim, "
            "so Aspora cannot name your account."
        )
    username = username[:150]
    if User.objects.filter(username=username).exists():
        raise SsoRefusedError(
            f"An Aspora account named {username!r} already exists with another email; "
            "ask an Aspora admin to set its email to yours so single sign-on can link it."
        )
    return User.objects.create_user(username=username, email=email), None


def _memberships_sync(*, user: User, tenant: Tenant, roles: dict[int, str]) -> None:
    """Teams some rule names follow the groups; teams no rule names are the admin's and stay."""
    managed = set(SsoGroupRule.objects.filter(team__tenant=tenant).values_list("team_id", flat=True))
    existing = {m.team_id: m for m in user.memberships.select_related("team").filter(team__tenant=tenant)}
    for team_id, membership in existing.items():
        if team_id in managed and team_id not in roles:
            membership.delete()
    for team_id, role in roles.items():
        membership = existing.get(team_id)
        if membership is None:
            Membership.objects.create(user=user, team_id=team_id, role=role)
        elif membership.role != role:
            membership.role = role
            membership.save(update_fields=["role"])
    memberships = user.memberships.filter(team__tenant=tenant)
    if not memberships.filter(is_primary=True).exists():
        first = memberships.filter(team_id__in=roles).order_by("team__name").first()
        if first is not None:
            first.is_primary = True
            first.save(update_fields=["is_primary"])


def sso_user_sync(*, issuer: str, claims: Mapping) -> User:
    """The person the verified claims describe, created or updated, with their memberships."""
    subject = _claim_str(claims, "sub")
    if not subject:
        raise SsoRefusedError(f"{_provider()} sent no subject (sub) for this sign-in.")
    tenant, roles = _tenant_and_roles(groups=sso_claim_groups(claims=claims))
    with transaction.atomic():
        user, link = _user_for(issuer=issuer, subject=subject, claims=claims)
        if user.tenant_id is not None and user.tenant_id != tenant.id:
            raise SsoRefusedError(
                f"Your Aspora account belongs to another tenant than the one your {_provider()} groups map to "
                f"({tenant.name}); ask an Aspora admin to correct the SSO group rules."
            )
        if not user.is_active:
            raise SsoRefusedError("Your Aspora account is deactivated; ask an Aspora admin.")
        user.tenant = tenant
        user.email = _claim_str(claims, "email") or user.email
        user.first_name = _claim_str(claims, "given_name")[:150] or user.first_name
        user.last_name = _claim_str(claims, "family_name")[:150] or user.last_name
        user.display_name = _claim_str(claims, "name")[:120] or user.display_name
        user.save(update_fields=["tenant", "email", "first_name", "last_name", "display_name"])
        if link is None:
            link = SsoIdentity.objects.create(user=user, issuer=issuer, subject=subject)
        link.last_login_at = timezone.now()
        link.save(update_fields=["last_login_at"])
        _memberships_sync(user=user, tenant=tenant, roles=roles)
    return user
