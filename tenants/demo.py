"""The demo world `manage.py seed_demo` creates: idempotent, and loud about what it does.

Two tenants so isolation can be seen: Aspora Remit (the ops teams of the original demo) and
Northwind Payments (one team, one person, who must never see Aspora Remit's data).
"""

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.auth.models import Group, Permission
from django.db import transaction

from tenants.models import Membership, Role, Team, Tenant, User

DEMO_TENANT = ("Aspora Remit", "aspora-remit")
SECOND_TENANT = ("Northwind Payments", "northwind")

TEAMS = {
    "ecm-field": ("ECM field", "Field agents working stuck transfers, shipments and payment failures."),
    "ecm-managers": ("ECM managers", "Managers of the ECM field team: escalations and SLA risk."),
    "fincrime": ("FinCrime", "Analysts working the alert queue, investigations and sanctions matches."),
    "fraud-risk": ("Fraud risk", "Fraud Guardian: rule tuning and false-positive review."),
    "product": ("Product", "Product managers queueing Code Factory specs."),
}


@dataclass(frozen=True)
class DemoPerson:
    username: str
    display_name: str
    memberships: tuple[tuple[str, str], ...]  # (team slug, role); the first is primary
    staff: bool = False
    superuser: bool = False
    timezone: str = "Asia/Dubai"


PEOPLE = (
    DemoPerson("sarah", "Sarah Khan", (("ecm-field", Role.FIELD_AGENT),)),
    DemoPerson("amir", "Amir Saleh", (("ecm-field", Role.FIELD_AGENT),)),
    DemoPerson("priya", "Priya Nair", (("ecm-field", Role.FIELD_AGENT),), timezone="Asia/Kolkata"),
    DemoPerson("omar", "Omar Haddad", (("ecm-field", Role.MANAGER), ("ecm-managers", Role.MANAGER))),
    DemoPerson("raj", "Raj Patel", (("fincrime", Role.ANALYST),), timezone="Asia/Kolkata"),
    DemoPerson("nina", "Nina Petrova", (("fincrime", Role.ANALYST),)),
    DemoPerson("lena", "Lena Fischer", (("fraud-risk", Role.ANALYST),), timezone="Europe/Berlin"),
    DemoPerson("paula", "Paula Mendes", (("product", Role.PRODUCT_MANAGER),)),
    DemoPerson(
        "olivia",
        "Olivia Brown",
        (("ecm-managers", Role.OPS_MANAGER), ("fincrime", Role.OPS_MANAGER), ("fraud-risk", Role.OPS_MANAGER)),
        staff=True,
    ),
    DemoPerson("admin", "Aspora Admin", (("product", Role.ADMIN),), staff=True, superuser=True),
)
SECOND_TENANT_PERSON = DemoPerson(
    "theo", "Theo Laurent", (("northwind-ops", Role.FIELD_AGENT),), timezone="Europe/Paris"
)

OPS_MANAGER_GROUP = "Ops managers"
OPS_MANAGER_PERMISSIONS = [
    ("tenants", "view_user"),
    ("tenants", "view_team"),
    ("tenants", "change_team"),
    ("tenants", "view_membership"),
    ("tenants", "add_membership"),
    ("tenants", "change_membership"),
    ("tenants", "delete_membership"),
    ("tenants", "view_channelidentity"),
    ("tenants", "add_channelidentity"),
    ("tenants", "change_channelidentity"),
    ("tenants", "delete_channelidentity"),
]


@dataclass(frozen=True)
class SeededLogin:
    username: str
    display_name: str
    tenant: str
    team: str
    role: str
    password: str | None  # None: the account existed and its password was left alone


def _person_seed(
    person: DemoPerson, tenant: Tenant, teams: dict[str, Team], password_for: Callable[[bool], str | None]
) -> SeededLogin:
    user, created = User.objects.get_or_create(username=person.username, defaults={"tenant": tenant})
    user.tenant = tenant
    user.display_name = person.display_name
    user.first_name, _, user.last_name = person.display_name.partition(" ")
    user.email = f"{person.username}@{tenant.slug}.example"
    user.is_staff = person.staff
    user.is_superuser = person.superuser
    user.timezone = person.timezone
    password = password_for(created)
    if password is not None:
        user.set_password(password)
    user.save()
    primary_team = teams[person.memberships[0][0]]
    Membership.objects.filter(user=user, is_primary=True).exclude(team=primary_team).update(is_primary=False)
    for index, (team_slug, role) in enumerate(person.memberships):
        Membership.objects.update_or_create(
            user=user, team=teams[team_slug], defaults={"role": role, "is_primary": index == 0}
        )
    primary_slug, primary_role = person.memberships[0]
    return SeededLogin(
        username=user.username,
        display_name=person.display_name,
        tenant=tenant.name,
        team=teams[primary_slug].name,
        role=Role(primary_role).label,
        password=password,
    )


@transaction.atomic
def demo_seed(*, password: str | None, log: Callable[[str], None] = lambda line: None) -> list[SeededLogin]:
    """Create or update the demo world.

    With a `password` every demo account gets it (the embedded default). Without one, new accounts
    get a random password each, returned once, and existing accounts keep theirs.
    """

    def password_for(created: bool) -> str | None:
        if password is not None:
            return password
        return secrets.token_urlsafe(12) if created else None

    log("Tenants")
    tenant, _ = Tenant.objects.update_or_create(slug=DEMO_TENANT[1], defaults={"name": DEMO_TENANT[0]})
    second, _ = Tenant.objects.update_or_create(slug=SECOND_TENANT[1], defaults={"name": SECOND_TENANT[0]})

    log("Teams")
    teams = {
        slug: Team.objects.update_or_create(
            tenant=tenant, slug=slug, defaults={"name": name, "description": description}
        )[0]
        for slug, (name, description) in TEAMS.items()
    }
    teams["northwind-ops"] = Team.objects.update_or_create(
        tenant=second, slug="northwind-ops", defaults={"name": "Northwind ops", "description": "Northwind's ops desk."}
    )[0]

    log("People")
    logins = [_person_seed(person, tenant, teams, password_for) for person in PEOPLE]
    logins.append(_person_seed(SECOND_TENANT_PERSON, second, teams, password_for))

    log("Permissions")
    group, _ = Group.objects.get_or_create(name=OPS_MANAGER_GROUP)
    group.permissions.set(
        [Permission.objects.get(content_type__app_label=app, codename=code) for app, code in OPS_MANAGER_PERMISSIONS]
    )
    User.objects.get(username="olivia").groups.add(group)
    return logins
