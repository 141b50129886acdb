"""Reads for tenants, always scoped to the person asking."""

from django.db.models import QuerySet

from tenants.models import ChannelIdentity, Membership, Team, User


def team_primary_for_user(*, user: User) -> Team | None:
    membership = (
        Membership.objects.select_related("team")
        .filter(user=user, team__tenant_id=user.tenant_id)
        .order_by("-is_primary", "joined_at", "pk")
        .first()
    )
    return membership.team if membership else None


def membership_list_for_user(*, user: User) -> QuerySet[Membership]:
    return Membership.objects.select_related("team", "team__tenant").filter(user=user)


def channel_identity_list_for_user(*, user: User) -> QuerySet[ChannelIdentity]:
    return ChannelIdentity.objects.filter(user=user)


def channel_identity_resolve(*, provider: str, workspace: str, external_user_id: str) -> User | None:
    identity = (
        ChannelIdentity.objects.select_related("user")
        .filter(provider=provider, workspace=workspace, external_user_id=external_user_id, user__is_active=True)
        .first()
    )
    return identity.user if identity else None
