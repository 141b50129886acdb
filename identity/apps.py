from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "identity"
    verbose_name = "Identity: single sign-on and sessions"

    def ready(self) -> None:
        from identity import signals  # noqa: F401 - connects the logout push
