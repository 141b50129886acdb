from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"

    def ready(self) -> None:
        # Admin changes are recorded from Django's own LogEntry: no admin class needs editing.
        from django.contrib.admin.models import LogEntry
        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_save

        from audit import checks  # noqa: F401 - registers the retention settings check
        from audit.actor import audit_actor_install
        from audit.signals import admin_log_entry_saved

        post_save.connect(admin_log_entry_saved, sender=LogEntry, dispatch_uid="audit.admin_log_entry_saved")
        # Writes on PostgreSQL carry the person they are made for to the row-change triggers.
        connection_created.connect(audit_actor_install, dispatch_uid="audit.audit_actor_install")
