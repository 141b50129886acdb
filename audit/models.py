"""The audit trail: append-only, each row carrying the hash of the one before it (docs/audit.md).

`AuditEvent` rows are written only by `audit.services.audit_event_append`; the model refuses to be
saved twice or deleted, and on PostgreSQL a trigger refuses UPDATE and DELETE below the app.
`RowChange` rows are written by PostgreSQL triggers on ECM tickets and FinCrime alerts and cases.
`AuditSegment` rows record the chain's prefixes moved offline by `audit.archive` (docs/audit.md#archive).
"""

from django.conf import settings
from django.db import models


class AuditImmutableError(Exception):
    """Raised when code tries to change or delete an audit row."""


class Outcome(models.TextChoices):
    OK = "ok", "OK"
    ERROR = "error", "Error"
    REFUSED = "refused", "Refused"
    PENDING = "pending", "Pending"
    REJECTED = "rejected", "Rejected"


class AppendOnlyQuerySet(models.QuerySet):
    """Bulk `update()` and `delete()` refuse too; only the retention purge and the archive remove rows (`_purge`)."""

    def update(self, **kwargs):
        raise AuditImmutableError(f"{self.model.__name__} rows are append-only: they cannot be updated.")

    def delete(self):
        raise AuditImmutableError(f"{self.model.__name__} rows are append-only: they cannot be deleted.")

    def _purge(self) -> int:
        """Delete these rows for the retention purge or the archive, and only for them."""
        return self._raw_delete(self.db)


class _AppendOnly(models.Model):
    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AuditImmutableError(f"{type(self).__name__} {self.pk} is append-only: it cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditImmutableError(f"{type(self).__name__} {self.pk} is append-only: it cannot be deleted.")


class AuditEvent(_AppendOnly):
    # References keep no database constraint: deleting a person or a team must neither fail on,
    # nor rewrite, the audit rows that name them (a rewrite would also break the hash chain).
    seq = models.PositiveBigIntegerField(unique=True, editable=False, help_text="Position in the hash chain.")
    occurred_at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
        help_text="Empty for the system.",
    )
    actor_label = models.CharField(max_length=150, blank=True, help_text="The username when it happened.")
    tenant = models.ForeignKey(
        "tenants.Tenant", null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    team = models.ForeignKey(
        "tenants.Team", null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    channel = models.CharField(max_length=16, blank=True)
    action = models.CharField(max_length=40, db_index=True)
    object_type = models.CharField(max_length=80, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    domain = models.CharField(max_length=64, blank=True)
    skill = models.CharField(max_length=64, blank=True)
    skill_version = models.PositiveIntegerField(null=True, blank=True)
    summary = models.CharField(max_length=300, blank=True)
    data = models.JSONField(default=dict, blank=True, help_text="Redacted before it is stored.")
    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    prev_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-seq"]
        indexes = [
            models.Index(fields=["tenant", "-occurred_at"]),
            models.Index(fields=["object_type", "object_id"]),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.actor_label or 'system'}"


class RowChange(_AppendOnly):
    """One INSERT, UPDATE or DELETE of a watched table, written by a PostgreSQL trigger."""

    changed_at = models.DateTimeField(db_index=True)
    table_name = models.CharField(max_length=80)
    operation = models.CharField(max_length=8)
    row_id = models.CharField(max_length=64)
    old = models.JSONField(null=True, blank=True)
    new = models.JSONField(null=True, blank=True)
    db_user = models.CharField(max_length=80)
    app_actor = models.CharField(max_length=150, blank=True, help_text="Set by the app per transaction, if at all.")

    class Meta:
        ordering = ["-changed_at", "-id"]
        indexes = [models.Index(fields=["table_name", "row_id"])]

    def __str__(self) -> str:
        return f"{self.operation} {self.table_name} {self.row_id}"


class AuditSegment(_AppendOnly):
    """One file of archived audit rows: a contiguous run of the chain, deleted from `AuditEvent` once
    the file was written and verified. On PostgreSQL the trigger lets the archive delete an online row
    only when a segment row covers its `seq` (audit/migrations/0005_postgres_archive_trigger.py)."""

    first_seq = models.PositiveBigIntegerField(unique=True)
    last_seq = models.PositiveBigIntegerField(unique=True)
    first_prev_hash = models.CharField(max_length=64, blank=True, help_text="The chain's link into the segment.")
    last_hash = models.CharField(max_length=64, help_text="The chain's link out of the segment.")
    first_occurred_at = models.DateTimeField()
    last_occurred_at = models.DateTimeField(db_index=True)
    row_count = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64, help_text="Of the file's bytes, as stored.")
    storage_name = models.CharField(max_length=255, unique=True, help_text="In the `audit_archive` storage.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["first_seq"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(last_seq__gte=models.F("first_seq")), name="audit_segment_seq_order"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.storage_name} (seq {self.first_seq}..{self.last_seq})"
