"""The one signal the audit listens to: Django's admin LogEntry, written after every admin change."""

from audit.services import audit_admin_change


def admin_log_entry_saved(sender, instance, created: bool, **kwargs) -> None:
    if created:
        audit_admin_change(entry=instance)
