from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class ModelPrice(models.Model):
    """What one model costs per million tokens from a date on; the newest row in effect wins."""

    model = models.CharField(
        max_length=200, help_text="As a run records it: `provider:model`, e.g. anthropic:claude-haiku-4-5."
    )
    input_usd_per_mtok = models.DecimalField(
        "input USD / 1M tokens", max_digits=10, decimal_places=4, validators=[MinValueValidator(Decimal(0))]
    )
    output_usd_per_mtok = models.DecimalField(
        "output USD / 1M tokens", max_digits=10, decimal_places=4, validators=[MinValueValidator(Decimal(0))]
    )
    effective_from = models.DateTimeField(help_text="Runs finishing from this moment on are priced with this row.")
    note = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["model", "-effective_from"]
        constraints = [models.UniqueConstraint(fields=["model", "effective_from"], name="model_price_unique_from")]

    def __str__(self) -> str:
        return f"{self.model} from {self.effective_from:%Y-%m-%d}"


class BudgetScope(models.TextChoices):
    TENANT = "tenant", "Tenant"
    TEAM = "team", "Team"
    DOMAIN = "domain", "Domain"
    SKILL = "skill", "Skill"


class Budget(models.Model):
    """A monthly USD limit on runs of a tenant, or of one team, domain or skill within it."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="budgets")
    scope = models.CharField(max_length=16, choices=BudgetScope.choices)
    team = models.ForeignKey("tenants.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="budgets")
    domain = models.ForeignKey("skills.Domain", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    skill = models.ForeignKey("skills.Skill", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    monthly_limit_usd = models.DecimalField(
        "monthly limit (USD)", max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal(0))]
    )
    warn_at_percent = models.PositiveSmallIntegerField(
        "warn at (%)",
        default=80,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="Runs past this share of the limit carry a visible warning.",
    )
    enabled = models.BooleanField(default=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, editable=False, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tenant__name", "scope"]
        indexes = [models.Index(fields=["tenant", "enabled"])]

    def __str__(self) -> str:
        return self.label

    @property
    def target(self):
        return {"tenant": self.tenant, "team": self.team, "domain": self.domain, "skill": self.skill}.get(self.scope)

    @property
    def label(self) -> str:
        """How a refusal names the budget: "The ECM field team's monthly budget"."""
        if self.scope == BudgetScope.TEAM and self.team_id:
            return f"The {self.team.name} team's monthly budget"
        if self.scope == BudgetScope.DOMAIN and self.domain_id:
            return f"The {self.domain.name} domain's monthly budget"
        if self.scope == BudgetScope.SKILL and self.skill_id:
            return f"The {self.skill.name} skill's monthly budget"
        return f"{self.tenant.name}'s monthly budget"

    def clean(self) -> None:
        targets = {BudgetScope.TEAM: "team", BudgetScope.DOMAIN: "domain", BudgetScope.SKILL: "skill"}
        errors = {}
        for scope, field in targets.items():
            value = getattr(self, f"{field}_id")
            if self.scope == scope and value is None:
                errors[field] = f"A {scope} budget names the {field} it limits."
            elif self.scope != scope and value is not None:
                errors[field] = f"Leave {field} empty on a {self.get_scope_display().lower()} budget."
        if self.scope == BudgetScope.TEAM and self.team_id and self.tenant_id and self.team.tenant_id != self.tenant_id:
            errors["team"] = "The team belongs to another tenant."
        if errors:
            raise ValidationError(errors)
