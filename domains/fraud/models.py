from decimal import Decimal

from django.db import models
from django.db.models.functions import Cast, Ceil, Floor
from django.urls import reverse

from domains.formatting import money


class Feature(models.TextChoices):
    """The transaction features a rule can test; each is a column of `Transaction`."""

    AMOUNT = "amount", "Amount"
    VELOCITY = "velocity", "Velocity (transactions in the last hour)"
    COUNTRY_RISK = "country_risk", "Country risk (1 to 10)"
    DEVICE_AGE_DAYS = "device_age_days", "Device age (days)"


INTEGER_FEATURES = frozenset({Feature.VELOCITY, Feature.COUNTRY_RISK, Feature.DEVICE_AGE_DAYS})


class Operator(models.TextChoices):
    GT = ">", ">"
    GTE = ">=", "≥"
    LT = "<", "<"
    LTE = "<=", "≤"


class Label(models.TextChoices):
    FRAUD = "fraud", "Fraud"
    LEGITIMATE = "legitimate", "Legitimate"


class Rule(models.Model):
    """A fraud rule: it fires on a transaction when all its conditions hold."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="fraud_rules")
    name = models.SlugField(max_length=64, help_text="Unique per tenant, e.g. velocity-burst.")
    description = models.CharField(max_length=300, blank=True)
    enabled = models.BooleanField(default=True)
    currency = models.CharField(max_length=3, default="AED", help_text="The currency of amount thresholds.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="fraud_rule_name_unique_per_tenant")]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("fraud:rule-detail", args=[self.pk])


class Condition(models.Model):
    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="conditions")
    feature = models.CharField(max_length=32, choices=Feature.choices)
    operator = models.CharField(max_length=2, choices=Operator.choices)
    threshold = models.DecimalField(max_digits=14, decimal_places=2)

    class Meta:
        ordering = ["rule", "pk"]
        # A what-if names the condition by its feature, so a rule tests each feature at most once.
        constraints = [models.UniqueConstraint(fields=["rule", "feature"], name="fraud_condition_one_per_feature")]

    def __str__(self) -> str:
        return self.text

    @property
    def text(self) -> str:
        return condition_text(
            feature=self.feature, operator=self.operator, threshold=self.threshold, currency=self.rule.currency
        )


class Transaction(models.Model):
    """A past transaction with its features and the label an investigation confirmed."""

    # The composite indexes below serve tenant lookups; a separate FK index would only cost inserts.
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+", db_index=False)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    # Whole-number views of the amount, kept by the database. A what-if on an amount threshold groups
    # a million rows on one of them (exact for whole-number thresholds, see simulation.py): an
    # integer column PostgreSQL has statistics for and hashes cheaply, unlike an expression.
    amount_floor = models.GeneratedField(
        expression=Cast(Floor("amount"), models.BigIntegerField()),
        output_field=models.BigIntegerField(),
        db_persist=True,
    )
    amount_ceil = models.GeneratedField(
        expression=Cast(Ceil("amount"), models.BigIntegerField()),
        output_field=models.BigIntegerField(),
        db_persist=True,
    )
    currency = models.CharField(max_length=3, default="AED")
    velocity = models.PositiveIntegerField(help_text="Transactions by the same customer in the hour before.")
    country_risk = models.PositiveSmallIntegerField(help_text="Risk of the destination country, 1 (low) to 10.")
    device_age_days = models.PositiveIntegerField(help_text="Days since the device was first seen.")
    label = models.CharField(max_length=16, choices=Label.choices)
    occurred_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            # max(id) and max(updated_at) per tenant are the cheap data version of the simulation cache.
            models.Index(fields=["tenant", "id"], name="fraud_tx_tenant_id"),
            models.Index(fields=["tenant", "updated_at"], name="fraud_tx_tenant_updated"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(country_risk__gte=1, country_risk__lte=10), name="fraud_tx_country_risk_1_10"
            )
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.amount} {self.currency} ({self.label})"


# --- how figures read in answers and pages ------------------------------------------------------

FEATURE_WORDS = {
    Feature.AMOUNT: "amount",
    Feature.VELOCITY: "velocity",
    Feature.COUNTRY_RISK: "country risk",
    Feature.DEVICE_AGE_DAYS: "device age",
}


def number_text(value) -> str:
    value = Decimal(value)
    if value == value.to_integral_value():
        return f"{int(value):,}"
    return f"{value.normalize():,f}"


def quantity_text(feature: str, value, currency: str) -> str:
    """A value of `feature` with its unit: 2,450.00 AED, 1 day, 7."""
    if feature == Feature.AMOUNT:
        return money(Decimal(value), currency)
    if feature == Feature.DEVICE_AGE_DAYS:
        return f"{number_text(value)} day" + ("" if Decimal(value) == 1 else "s")
    return number_text(value)


def condition_text(*, feature: str, operator: str, threshold, currency: str) -> str:
    return f"{FEATURE_WORDS[feature]} {operator} {quantity_text(feature, threshold, currency)}"


def percent_text(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"
