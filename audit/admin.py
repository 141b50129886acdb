"""The audit in the admin: searchable and read-only. Nobody adds, changes or deletes a row here,
superusers included; rows are written by `audit.services` and by PostgreSQL triggers only."""

from django.contrib import admin

from audit.models import AuditEvent, AuditSegment, RowChange


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(_ReadOnly):
    list_display = ("seq", "occurred_at", "actor_label", "channel", "action", "skill", "outcome", "summary")
    list_filter = ("action", "channel", "outcome")
    search_fields = ("actor_label", "summary", "object_id", "skill")
    date_hierarchy = "occurred_at"


@admin.register(RowChange)
class RowChangeAdmin(_ReadOnly):
    list_display = ("changed_at", "table_name", "operation", "row_id", "db_user", "app_actor")
    list_filter = ("table_name", "operation")
    search_fields = ("row_id", "app_actor")


@admin.register(AuditSegment)
class AuditSegmentAdmin(_ReadOnly):
    """Where archived rows are (docs/audit.md#archive); `manage.py audit_export` reads them back."""

    list_display = ("storage_name", "first_seq", "last_seq", "row_count", "first_occurred_at", "last_occurred_at")
    search_fields = ("storage_name", "sha256")
