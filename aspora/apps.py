from django.apps import AppConfig


class AsporaConfig(AppConfig):
    name = "aspora"
    verbose_name = "Aspora"
