"""Graduation: a domain its people use every day outgrows chat and becomes a product of its own.

Each domain counts its active users over the last 30 days (people whose runs of its skills were
not refused) against a threshold; past it, the portal proposes a factory run pre-filled with a
product spec drawn from the domain: its core record as the product's data and a read endpoint per
record, the skills and tools it graduates from in the description. A PM reviews it in the spec
editor and queues it with one click.
"""

from dataclasses import dataclass
from datetime import timedelta

import yaml
from django.apps import apps
from django.conf import settings
from django.db import models
from django.utils import timezone

from skills.models import Domain, RunStatus, SkillRun
from skills.packs import domain_tool_names

ACTIVE_DAYS = 30


@dataclass(frozen=True)
class CoreRecord:
    """The record a domain's product is built around: its model, key, URL segment and fields
    (a field is the model's field name, or `spec name=model field` where the name is taken)."""

    model: str
    key: str
    plural: str
    fields: tuple[str, ...]

    def columns(self) -> list[tuple[str, str]]:
        return [tuple(f.split("=")) if "=" in f else (f, f) for f in self.fields]


# Personal data (customer names and the like) stays out of a generated spec on purpose.
CORE_RECORDS = {
    "ecm": CoreRecord(
        "ecm.Ticket", "number", "tickets", ("number", "kind", "title", "corridor", "amount", "currency", "status")
    ),
    "fincrime": CoreRecord("fincrime.Alert", "number", "alerts", ("number", "type", "status", "score", "summary")),
    "fraud": CoreRecord("fraud.Rule", "rule_name", "rules", ("rule_name=name", "description", "enabled", "currency")),
}


@dataclass(frozen=True)
class DomainActivity:
    domain: Domain
    active_users: int
    threshold: int

    @property
    def ready(self) -> bool:
        return self.active_users >= self.threshold

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.active_users / self.threshold)) if self.threshold else 100


def domain_activity_list(*, tenant_id: int, days: int = ACTIVE_DAYS) -> list[DomainActivity]:
    """Active users per domain of the tenant over the last `days` days, against the threshold."""
    since = timezone.now() - timedelta(days=days)
    counts = dict(
        SkillRun.objects.filter(tenant_id=tenant_id, queued_at__gte=since, skill__isnull=False)
        .exclude(status=RunStatus.REFUSED)
        .values("skill__domain")
        .annotate(people=models.Count("user", distinct=True))
        .values_list("skill__domain", "people")
    )
    threshold = settings.ASPORA_GRADUATION_THRESHOLD
    return [DomainActivity(domain, counts.get(domain.pk, 0), threshold) for domain in Domain.objects.order_by("name")]


def _field_type(field: models.Field) -> str:
    if isinstance(field, models.BooleanField):
        return "boolean"
    if isinstance(field, models.DecimalField):
        return "money"
    if isinstance(field, models.IntegerField):
        return "integer"
    if field.name == "currency":
        return "currency"
    return "text"


def graduation_spec_text(*, domain: Domain) -> str:
    """A product spec for `domain`, ready for the spec editor (markdown with YAML frontmatter)."""
    record = CORE_RECORDS.get(domain.name)
    if record is None:
        raise ValueError(f"The {domain.name} domain names no core record to build a product around.")
    model = apps.get_model(record.model)
    fields = {name: model._meta.get_field(field) for name, field in record.columns()}
    entity = record.plural.removesuffix("s")
    skills = list(domain.skills.filter(is_active=True, current_version__isnull=False).select_related("current_version"))
    frontmatter = {
        "kind": "product",
        "name": f"{domain.name}-service",
        "title": f"{domain.name.upper() if len(domain.name) <= 3 else domain.name.capitalize()} service",
        "data": {
            entity: {
                "key": [record.key],
                "fields": {
                    name: {"type": _field_type(field), "description": str(field.help_text or field.verbose_name)}
                    for name, field in fields.items()
                },
            }
        },
        "endpoints": [
            {
                "method": "GET",
                "path": f"/{record.plural}/{{{record.key}}}",
                "summary": f"One {entity} by its {record.key}, as the {domain.name} skills show it.",
                "entity": entity,
                "response": {"fields": [record.key], "items": {"name": record.plural, "fields": list(fields)}},
            }
        ],
    }
    tools = sorted(domain_tool_names(domain.name) or [])
    body = [
        f"The {domain.name} domain has outgrown chat: this service gives its {entity} data an API of its own.",
        "",
        "It graduates from these skills:",
        "",
        *(f"- `{skill.name}`: {skill.current_version.description}" for skill in skills),
        "",
        f"and their tools: {', '.join(f'`{tool}`' for tool in tools)}.",
        "",
        "Review the fields before queueing: personal data was left out on purpose. Seed rows and rules "
        "(building blocks) can be added here.",
    ]
    header = yaml.safe_dump(frontmatter, sort_keys=False, allow_unicode=True, width=110)
    return f"---\n{header}---\n" + "\n".join(body) + "\n"
