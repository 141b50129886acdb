"""`manage.py slack_socket`: the Slack bridge over Socket Mode, for workspaces without a public endpoint."""

from bridges.slack.socket_mode import Command  # noqa: F401
