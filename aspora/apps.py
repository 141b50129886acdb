from django.apps import AppConfig


class AsporaConfig(AppConfig):
    name = "aspora"
    verbose_name = "Aspora"

    def ready(self) -> None:
        from aspora.observability.tracing import tracing_configure

        tracing_configure()
