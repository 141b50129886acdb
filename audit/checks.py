from django.core import checks
from django.core.exceptions import ImproperlyConfigured


@checks.register()
def retention_settings_check(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """A retention period below its legal floor is refused at start-up, not at the first purge."""
    from audit.retention import retention_periods_longest

    try:
        retention_periods_longest()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), hint="See docs/audit.md#retention.", id="audit.E001")]
    return []
