from django.apps import AppConfig


class EcmConfig(AppConfig):
    name = "domains.ecm"
    label = "ecm"
    verbose_name = "ECM"
