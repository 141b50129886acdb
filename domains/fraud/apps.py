from django.apps import AppConfig


class FraudConfig(AppConfig):
    name = "domains.fraud"
    label = "fraud"
    verbose_name = "Fraud Guardian"
