from ninja import Schema


class MembershipOut(Schema):
    team: str
    team_slug: str
    role: str
    is_primary: bool


class MeOut(Schema):
    username: str
    display_name: str
    tenant: str | None
    memberships: list[MembershipOut]
