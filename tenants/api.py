from ninja import Router

from tenants.schemas import MembershipOut, MeOut
from tenants.selectors import membership_list_for_user

router = Router(tags=["people"])


@router.get("/me", response=MeOut, operation_id="me_get", summary="Who am I, and in which teams")
def me_get(request):
    user = request.user
    return MeOut(
        username=user.username,
        display_name=str(user),
        tenant=user.tenant.name if user.tenant else None,
        memberships=[
            MembershipOut(team=m.team.name, team_slug=m.team.slug, role=m.role, is_primary=m.is_primary)
            for m in membership_list_for_user(user=user)
        ],
    )
