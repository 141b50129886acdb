"""Small builders for test data: explicit arguments, no magic sequences."""

from tenants.models import Membership, Role, Team, Tenant, User


def tenant_make(slug: str = "acme") -> Tenant:
    return Tenant.objects.create(name=slug.title(), slug=slug)


def team_make(*, tenant: Tenant, slug: str = "ops") -> Team:
    return Team.objects.create(tenant=tenant, name=slug.replace("-", " ").title(), slug=slug)


def user_make(
    username: str, *, team: Team | None = None, role: str = Role.ANALYST, password: str = "pw-for-tests-1", **fields
) -> User:
    tenant = team.tenant if team else fields.pop("tenant", None)
    user = User.objects.create_user(username=username, password=password, tenant=tenant, **fields)
    if team:
        Membership.objects.create(user=user, team=team, role=role, is_primary=True)
    return user
