from django.apps import AppConfig


class BridgesConfig(AppConfig):
    name = "bridges"

    def ready(self):
        # People hear about escalations and approvals on Slack too, when they linked an identity.
        from bridges.slack.notify import slack_notification_deliver
        from tenants.notifications import notification_delivery_register

        notification_delivery_register(slack_notification_deliver)
