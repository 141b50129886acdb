from django.conf import settings
from django.db import models


class TicketKind(models.TextChoices):
    STUCK_TRANSFER = "stuck_transfer", "Stuck transfer"
    SHIPMENT = "shipment", "Shipment"
    PAYMENT_FAILURE = "payment_failure", "Payment failure"


class TicketStatus(models.TextChoices):
    OPEN = "open", "Open"
    ESCALATED = "escalated", "Escalated"
    COMPLIANCE_HOLD = "compliance_hold", "With FinCrime"
    RESOLVED = "resolved", "Resolved"


class Resolution(models.TextChoices):
    PAID_OUT = "paid_out", "Paid out"
    REFUNDED = "refunded", "Refunded"
    DELIVERED = "delivered", "Delivered"
    CANCELLED = "cancelled", "Cancelled by the customer"
    DUPLICATE = "duplicate", "Duplicate ticket"


class Priority(models.IntegerChoices):
    LOW = 1, "Low"
    MEDIUM = 2, "Medium"
    HIGH = 3, "High"
    URGENT = 4, "Urgent"


class Ticket(models.Model):
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="tickets")
    team = models.ForeignKey("tenants.Team", on_delete=models.PROTECT, related_name="tickets")
    number = models.PositiveIntegerField(help_text="The ticket number people quote, unique per tenant.")
    kind = models.CharField(max_length=32, choices=TicketKind.choices)
    title = models.CharField(max_length=200)
    corridor = models.CharField(max_length=16, help_text="Sending and receiving country, e.g. AE→IN.")
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3)
    customer = models.CharField(max_length=120)
    status = models.CharField(max_length=16, choices=TicketStatus.choices, default=TicketStatus.OPEN, db_index=True)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.MEDIUM)
    sla_due_at = models.DateTimeField()
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets"
    )
    escalation_level = models.PositiveSmallIntegerField(default=0)
    resolution = models.CharField(max_length=16, choices=Resolution.choices, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sla_due_at"]
        constraints = [models.UniqueConstraint(fields=["tenant", "number"], name="ticket_number_unique_per_tenant")]

    def __str__(self) -> str:
        return f"#{self.number} {self.title}"


class TicketEvent(models.Model):
    """The ticket's history: every change, with who and when."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="history")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    action = models.CharField(max_length=32)
    detail = models.TextField(blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["ticket", "at", "pk"]

    def __str__(self) -> str:
        return f"#{self.ticket.number} {self.action}"
