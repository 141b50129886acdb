"""Reads of skills and runs, always scoped to the person asking.

A skill someone may not run, or a run that is not theirs, is reported as not found.
"""

import time
from collections.abc import Iterator

from django.contrib.contenttypes.models import ContentType
from django.db.models import QuerySet
from guardian.core import ObjectPermissionChecker
from guardian.shortcuts import get_objects_for_user

from skills.models import (
    Conversation,
    Domain,
    Skill,
    SkillRun,
    SkillRunEvent,
    SkillVersion,
)
from tenants.context import AskerContext
from tenants.models import Membership, User

_LOOK_UP = object()
_versions: dict[int, SkillVersion] = {}


def _role_in_team(*, user: User, team_id: int) -> str | None:
    return Membership.objects.filter(user=user, team_id=team_id).values_list("role", flat=True).first()


def skill_may_run(
    *,
    context: AskerContext,
    skill: Skill,
    checker: ObjectPermissionChecker | None = None,
    role: object = _LOOK_UP,
    granted: bool | None = None,
) -> bool:
    """Guardian grants (on the skill or its whole domain, to the person or their teams) and the skill's roles.

    `checker`, `role` (the asker's role in the team) and `granted` (whether a grant exists, as
    `skill_get_for_context` reads it) let a caller that already asked the database not ask again.
    """
    user = context.user
    if not user.is_active or not skill.is_active or skill.current_version_id is None:
        return False
    if granted is None:
        checker = checker or ObjectPermissionChecker(user)
        granted = checker.has_perm("run_skill", skill) or checker.has_perm("run_domain", skill.domain)
    elif user.is_superuser:
        granted = True  # guardian's checker grants a superuser everything
    if not granted:
        return False
    roles = skill.current_version.config.get("roles") or []
    if not roles or user.is_superuser:
        return True
    if role is _LOOK_UP:
        role = _role_in_team(user=user, team_id=context.team.pk)
    return role in roles


def skill_list_for_context(*, context: AskerContext) -> list[Skill]:
    user = context.user
    skills = Skill.objects.filter(is_active=True, current_version__isnull=False).select_related(
        "domain", "current_version"
    )
    if not user.is_superuser:
        by_skill = get_objects_for_user(user, "skills.run_skill", klass=Skill, accept_global_perms=False)
        by_domain = get_objects_for_user(user, "skills.run_domain", klass=Domain, accept_global_perms=False)
        skills = skills.filter(pk__in=by_skill.values("pk")) | skills.filter(domain__in=by_domain)
    skills = list(skills.distinct())
    checker = ObjectPermissionChecker(user)
    checker.prefetch_perms(skills)
    checker.prefetch_perms(list({skill.domain for skill in skills}))
    role = _role_in_team(user=user, team_id=context.team.pk)
    return [skill for skill in skills if skill_may_run(context=context, skill=skill, checker=checker, role=role)]


def skill_version_get(pk: int) -> SkillVersion:
    """A skill version with its skill and domain, read once per process: versions never change."""
    version = _versions.get(pk)
    if version is None:
        version = _versions[pk] = SkillVersion.objects.select_related("skill__domain").get(pk=pk)
    return version


def _grant_sql(grants: str, target: str, *, to_groups: bool) -> str:
    """A grant in the guardian table `grants` of one permission (content type, codename) on
    `target`, a column of the skill row, to the asker (their id) or to one of their groups."""
    groups = "g.group_id IN (SELECT group_id FROM tenants_user_groups WHERE user_id = %s)"
    who = groups if to_groups else "g.user_id = %s"
    return (
        f"EXISTS (SELECT 1 FROM {grants} g JOIN auth_permission p ON p.id = g.permission_id "  # noqa: S608 - names, not input
        f"WHERE g.content_object_id = {target} AND p.content_type_id = %s AND p.codename = %s AND {who})"
    )


# The skill row, its domain's name, whether the asker may run it by a grant (`run_skill` on the skill
# or `run_domain` on its domain, to them or to a group of theirs: the object permissions guardian's
# checker reads) and their role in the team, as one statement. Written out by hand: on this path,
# every ask's, the ORM took longer to build the query than the database took to answer it.
# tests/skills/test_security.py checks it against guardian for each kind of grant and every person.
_SKILL_FOR_ASKER_SQL = f"""
SELECT s.id, s.domain_id, s.name, s.current_version_id, s.is_active, s.created_at, s.updated_at,
       d.name AS domain_name,
       ({_grant_sql("skills_skilluserobjectpermission", "s.id", to_groups=False)}
        OR {_grant_sql("skills_skillgroupobjectpermission", "s.id", to_groups=True)}
        OR {_grant_sql("skills_domainuserobjectpermission", "s.domain_id", to_groups=False)}
        OR {_grant_sql("skills_domaingroupobjectpermission", "s.domain_id", to_groups=True)}) AS asker_granted,
       (SELECT m.role FROM tenants_membership m WHERE m.user_id = %s AND m.team_id = %s
        ORDER BY m.id LIMIT 1) AS asker_role
FROM skills_skill s JOIN skills_domain d ON d.id = s.domain_id
WHERE s.name = %s
"""  # noqa: S608 - table names only; every value is a parameter


def skill_get_for_context(*, context: AskerContext, name: str) -> Skill | None:
    """The named skill if the asker may run it: the skill, its grants and the asker's role, in one query."""
    user = context.user
    on_skill, on_domain = (ContentType.objects.get_for_model(model).pk for model in (Skill, Domain))
    params = [  # in the order of the statement's placeholders
        *(on_skill, "run_skill", user.pk),
        *(on_skill, "run_skill", user.pk),
        *(on_domain, "run_domain", user.pk),
        *(on_domain, "run_domain", user.pk),
        *(user.pk, context.team.pk, name),
    ]
    skill = next(iter(Skill.objects.raw(_SKILL_FOR_ASKER_SQL, params)), None)
    if skill is None:
        return None
    # The domain as far as a run reads it (its name); anything else of it loads on first use.
    skill.domain = Domain.from_db(skill._state.db, ["id", "name"], [skill.domain_id, skill.domain_name])
    skill.current_version = skill_version_get(skill.current_version_id) if skill.current_version_id else None
    if not skill_may_run(context=context, skill=skill, granted=bool(skill.asker_granted), role=skill.asker_role):
        return None
    return skill


def skill_run_list_for_user(*, user: User) -> QuerySet[SkillRun]:
    return SkillRun.objects.filter(user=user).select_related("skill", "skill_version")


def skill_run_get_for_user(*, user: User, run_id) -> SkillRun | None:
    """Only the asker sees a run."""
    return skill_run_list_for_user(user=user).filter(pk=run_id).first()


def skill_run_ref_for_user(*, user: User, run_id) -> SkillRun | None:
    """Only the asker's run, reading nothing but its id: enough to follow it or hand it to a service."""
    return SkillRun.objects.filter(user=user, pk=run_id).only("id").first()


def skill_run_events_after(*, run: SkillRun, seq: int = 0) -> list:
    return list(run.events.filter(seq__gt=seq).order_by("seq"))


def skill_run_follow(
    *, run: SkillRun, after: int = 0, timeout: float, poll_seconds: float = 0.05
) -> Iterator[SkillRunEvent | None]:
    """The run's stored events after `after`, as they are written, for followers without a socket
    (the terminal, Slack, WhatsApp). Yields None on each idle poll so a caller can do periodic work;
    ends once the run is finished and every event was yielded; raises TimeoutError after `timeout`."""
    seq = after
    deadline = time.monotonic() + timeout
    while True:
        events = skill_run_events_after(run=run, seq=seq)
        for event in events:
            seq = event.seq
            yield event
        if events:
            continue
        run.refresh_from_db(fields=["status", "answer", "error", "finished_at"])
        if run.is_finished and not skill_run_events_after(run=run, seq=seq):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run.id} did not finish within {timeout:.0f} s")
        yield None
        time.sleep(poll_seconds)


def conversation_list_for_user(*, user: User, limit: int = 30) -> QuerySet[Conversation]:
    return Conversation.objects.filter(user=user).select_related("skill_version__skill").order_by("-updated_at")[:limit]


def conversation_get_for_user(*, user: User, conversation_id) -> Conversation | None:
    return Conversation.objects.filter(user=user, pk=conversation_id).select_related("skill_version__skill").first()


def conversation_runs(*, conversation: Conversation) -> QuerySet[SkillRun]:
    return conversation.runs.select_related("skill").prefetch_related("events").order_by("queued_at")
