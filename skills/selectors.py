"""Reads of skills and runs, always scoped to the person asking.

A skill someone may not run, or a run that is not theirs, is reported as not found.
"""

from django.db.models import QuerySet
from guardian.core import ObjectPermissionChecker
from guardian.shortcuts import get_objects_for_user

from skills.models import Conversation, Domain, Skill, SkillRun
from tenants.context import AskerContext
from tenants.models import Membership, User


def _role_in_team(*, user: User, team_id: int) -> str | None:
    return Membership.objects.filter(user=user, team_id=team_id).values_list("role", flat=True).first()


def skill_may_run(*, context: AskerContext, skill: Skill, checker: ObjectPermissionChecker | None = None) -> bool:
    """Guardian grants (on the skill or its whole domain, to the person or their teams) and the skill's roles."""
    user = context.user
    if not user.is_active or not skill.is_active or skill.current_version_id is None:
        return False
    checker = checker or ObjectPermissionChecker(user)
    if not (checker.has_perm("run_skill", skill) or checker.has_perm("run_domain", skill.domain)):
        return False
    roles = skill.current_version.config.get("roles") or []
    return not roles or user.is_superuser or _role_in_team(user=user, team_id=context.team.pk) in roles


def skill_list_for_context(*, context: AskerContext) -> list[Skill]:
    user = context.user
    skills = Skill.objects.filter(is_active=True, current_version__isnull=False).select_related(
        "domain", "current_version"
    )
    if not user.is_superuser:
        by_skill = get_objects_for_user(user, "skills.run_skill", klass=Skill, accept_global_perms=False)
        by_domain = get_objects_for_user(user, "skills.run_domain", klass=Domain, accept_global_perms=False)
        skills = skills.filter(pk__in=by_skill.values("pk")) | skills.filter(domain__in=by_domain)
    checker = ObjectPermissionChecker(user)
    return [skill for skill in skills.distinct() if skill_may_run(context=context, skill=skill, checker=checker)]


def skill_get_for_context(*, context: AskerContext, name: str) -> Skill | None:
    skill = Skill.objects.select_related("domain", "current_version").filter(name=name).first()
    if skill is None or not skill_may_run(context=context, skill=skill):
        return None
    return skill


def skill_run_list_for_user(*, user: User) -> QuerySet[SkillRun]:
    return SkillRun.objects.filter(user=user).select_related("skill", "skill_version")


def skill_run_get_for_user(*, user: User, run_id) -> SkillRun | None:
    """Only the asker sees a run."""
    return skill_run_list_for_user(user=user).filter(pk=run_id).first()


def skill_run_events_after(*, run: SkillRun, seq: int = 0) -> list:
    return list(run.events.filter(seq__gt=seq).order_by("seq"))


def conversation_list_for_user(*, user: User, limit: int = 30) -> QuerySet[Conversation]:
    return Conversation.objects.filter(user=user).select_related("skill_version__skill").order_by("-updated_at")[:limit]


def conversation_get_for_user(*, user: User, conversation_id) -> Conversation | None:
    return Conversation.objects.filter(user=user, pk=conversation_id).select_related("skill_version__skill").first()


def conversation_runs(*, conversation: Conversation) -> QuerySet[SkillRun]:
    return conversation.runs.select_related("skill").prefetch_related("events").order_by("queued_at")
