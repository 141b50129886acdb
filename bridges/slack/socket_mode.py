"""`manage.py slack_socket`: the same bolt App and listeners over Socket Mode, for hosts Slack cannot reach.

Needs SLACK_APP_TOKEN (an `xapp-` app-level token with connections:write) besides the usual
settings. Wired as a command by `bridges/management/commands/slack_socket.py`.
"""

from django.core.management.base import BaseCommand, CommandError

from bridges.slack.app import slack_socket_app
from bridges.slack.config import slack_config


class Command(BaseCommand):
    help = "Connect the Slack bridge to Slack over Socket Mode (needs SLACK_APP_TOKEN)."

    def handle(self, *args, **options):
        config = slack_config()
        if not config.app_token:
            raise CommandError(
                "SLACK_APP_TOKEN is not set: Socket Mode needs an app-level token (xapp-…) with "
                "connections:write. Set it, or serve the Events API at /slack/events instead."
            )
        if not config.app_token.startswith("xapp-"):
            raise CommandError("SLACK_APP_TOKEN must be an app-level token starting with xapp-.")
        app = slack_socket_app()
        if app is None:
            raise CommandError(
                "The Slack bridge is not configured: set SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN "
                "(or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET)."
            )
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        self.stdout.write("Connecting to Slack over Socket Mode…")
        SocketModeHandler(app, app_token=config.app_token).start()
