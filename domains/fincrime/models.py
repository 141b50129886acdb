from django.conf import settings
from django.db import models
from django.db.models import Q


class RiskRating(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


class Customer(models.Model):
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="fincrime_customers")
    reference = models.CharField(max_length=20, help_text="The customer id analysts quote, e.g. CUS-10031.")
    name = models.CharField(max_length=120)
    country = models.CharField(max_length=2)
    date_of_birth = models.DateField(null=True, blank=True)
    occupation = models.CharField(max_length=80, blank=True)
    risk_rating = models.CharField(max_length=8, choices=RiskRating.choices, default=RiskRating.LOW)
    onboarded_at = models.DateField()

    class Meta:
        ordering = ["reference"]
        constraints = [models.UniqueConstraint(fields=["tenant", "reference"], name="customer_reference_unique")]

    def __str__(self) -> str:
        return f"{self.reference} {self.name}"


class Transaction(models.Model):
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="fincrime_transactions")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="transactions")
    reference = models.CharField(max_length=20)
    direction = models.CharField(max_length=3, choices=[("in", "Incoming"), ("out", "Outgoing")])
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3)
    counterparty = models.CharField(max_length=120)
    counterparty_country = models.CharField(max_length=2)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["tenant", "reference"], name="fincrime_tx_reference_unique")]

    def __str__(self) -> str:
        return self.reference


class SanctionsEntry(models.Model):
    """An entry of a sanctions list: shared reference data, not tenant data."""

    list_name = models.CharField(max_length=40)
    reference = models.CharField(max_length=30, unique=True)
    name = models.CharField(max_length=160)
    country = models.CharField(max_length=2, blank=True)
    date_of_birth = models.DateField(null=True, blank=True)
    program = models.CharField(max_length=80, blank=True)

    class Meta:
        ordering = ["list_name", "name"]
        verbose_name_plural = "sanctions entries"

    def __str__(self) -> str:
        return f"{self.reference} {self.name}"


class AlertType(models.TextChoices):
    TRANSACTION_MONITORING = "transaction_monitoring", "Transaction monitoring"
    SANCTIONS = "sanctions", "Sanctions screening"
    CUSTOMER_RISK = "customer_risk", "Customer risk"


class AlertStatus(models.TextChoices):
    NEW = "new", "New"
    IN_REVIEW = "in_review", "In review"
    PENDING_APPROVAL = "pending_approval", "Pending approval"
    ESCALATED = "escalated", "Escalated to a case"
    CLOSED = "closed", "Closed as false positive"


OPEN_ALERT_STATUSES = [AlertStatus.NEW, AlertStatus.IN_REVIEW, AlertStatus.PENDING_APPROVAL]


class Alert(models.Model):
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="alerts")
    team = models.ForeignKey("tenants.Team", on_delete=models.PROTECT, related_name="alerts")
    number = models.PositiveIntegerField(help_text="The alert number analysts quote, unique per tenant.")
    type = models.CharField(max_length=32, choices=AlertType.choices)
    status = models.CharField(max_length=20, choices=AlertStatus.choices, default=AlertStatus.NEW, db_index=True)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="alerts")
    score = models.PositiveSmallIntegerField(help_text="Risk score 0-100 from the detection engine.")
    summary = models.CharField(max_length=240)
    transactions = models.ManyToManyField(Transaction, blank=True, related_name="alerts")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    source_ticket = models.ForeignKey(
        "ecm.Ticket", null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts",
        help_text="The ECM ticket a manager handed to FinCrime, if any.",
    )  # fmt: skip
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)
    # Retention counts from here (FATF R.11, audit/retention.py), not from the last edit.
    closed_at = models.DateTimeField(null=True, blank=True, help_text="When it was closed as a false positive.")

    class Meta:
        ordering = ["-score", "created_at"]
        constraints = [models.UniqueConstraint(fields=["tenant", "number"], name="alert_number_unique_per_tenant")]

    def __str__(self) -> str:
        return f"Alert {self.number}"


class SanctionsMatch(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending review"
        CONFIRMED = "confirmed", "Confirmed"
        DISMISSED = "dismissed", "Dismissed"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="matches")
    entry = models.ForeignKey(SanctionsEntry, on_delete=models.PROTECT, related_name="matches")
    score = models.PositiveSmallIntegerField(help_text="Name-match score 0-100.")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)

    class Meta:
        ordering = ["-score"]
        verbose_name_plural = "sanctions matches"

    def __str__(self) -> str:
        return f"{self.alert} ~ {self.entry} ({self.score})"


class CaseNote(models.Model):
    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["alert", "created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.alert}: {self.text[:40]}"


class DispositionRequest(models.Model):
    """Closing an alert as a false positive needs a second analyst: the four-eyes rule."""

    class Decision(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="disposition_requests")
    reason = models.TextField()
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    decision = models.CharField(max_length=10, choices=Decision.choices, default=Decision.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["alert"], condition=Q(decision="pending"), name="one_pending_disposition_per_alert"
            ),
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=models.F("requested_by")),
                name="disposition_four_eyes",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.alert} close as false positive ({self.decision})"


class CaseOutcome(models.TextChoices):
    SAR_FILED = "sar_filed", "SAR filed"
    NO_SUSPICION = "no_suspicion", "No suspicion confirmed"
    LAW_ENFORCEMENT = "law_enforcement", "Referred to law enforcement"
    OTHER = "other", "Other"


class Case(models.Model):
    alert = models.OneToOneField(Alert, on_delete=models.PROTECT, related_name="case")
    reason = models.TextField()
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    opened_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(
        null=True, blank=True, db_index=True,
        help_text="When the investigation was closed; empty while open. Retention counts from here (FATF R.11).",
    )  # fmt: skip
    # What the last close decided; cleared on reopen (the notes keep every earlier decision).
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    outcome = models.CharField(max_length=20, choices=CaseOutcome.choices, blank=True)
    outcome_detail = models.TextField(blank=True, help_text="Required when the outcome is Other.")

    def __str__(self) -> str:
        return f"Case for {self.alert}"
