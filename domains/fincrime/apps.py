from django.apps import AppConfig


class FincrimeConfig(AppConfig):
    name = "domains.fincrime"
    label = "fincrime"
    verbose_name = "FinCrime"
