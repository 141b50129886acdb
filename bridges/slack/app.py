"""The bolt App, built lazily from the environment and cached until `slack_app_reset()`.

Bolt verifies every request (v0 signature, timestamp within five minutes) before a listener
sees it. Listeners run before the response (`process_before_response`) and do only two things:
ack, and hand the body to `dispatch.slack_job_submit`. Everything slow happens in the job.
"""

import logging
import threading

from slack_bolt import App
from slack_bolt.adapter.django import SlackRequestHandler
from slack_bolt.oauth.oauth_settings import OAuthSettings

from bridges.slack.blocks import CONFIRM_ACTION, REJECT_ACTION
from bridges.slack.client import slack_web_client
from bridges.slack.config import SlackConfig, slack_config
from bridges.slack.dispatch import slack_job_submit
from bridges.slack.stores import DjangoInstallationStore, DjangoOAuthStateStore

logger = logging.getLogger(__name__)
INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"

_lock = threading.Lock()
_cached: tuple[SlackConfig, App, SlackRequestHandler] | None = None


def _listeners_register(app: App) -> None:
    @app.event("app_mention")
    def on_mention(ack, body):
        ack()
        slack_job_submit(kind="event", body=body)

    @app.event("message")
    def on_message(ack, body, event):
        ack()
        # Only a person's direct message to the bot; channel chatter and bot echoes are not questions.
        if event.get("channel_type") == "im" and not event.get("subtype") and not event.get("bot_id"):
            slack_job_submit(kind="event", body=body)

    @app.command("/aspora")
    def on_command(ack, body):
        ack()
        slack_job_submit(kind="command", body=body)

    @app.action(CONFIRM_ACTION)
    @app.action(REJECT_ACTION)
    def on_decision(ack, body):
        ack()
        slack_job_submit(kind="action", body=body)


def slack_app_build(config: SlackConfig) -> App:
    common = {
        "name": "aspora",
        "logger": logger,
        "signing_secret": config.signing_secret,
        "process_before_response": True,
    }
    if config.bot_token:
        client = slack_web_client(token=config.bot_token, config=config)
        app = App(client=client, token_verification_enabled=False, **common)
    else:
        app = App(
            oauth_settings=OAuthSettings(
                client_id=config.client_id,
                client_secret=config.client_secret,
                scopes=list(config.scopes),
                installation_store=DjangoInstallationStore(client_id=config.client_id),
                state_store=DjangoOAuthStateStore(expiration_seconds=600),
                install_path=INSTALL_PATH,
                redirect_uri_path=REDIRECT_PATH,
            ),
            client=slack_web_client(config=config),
            **common,
        )
    _listeners_register(app)
    return app


def slack_handler() -> SlackRequestHandler | None:
    """The Django handler of the configured app; None while the bridge is not configured."""
    global _cached
    config = slack_config()
    with _lock:
        if _cached is not None and _cached[0] == config:
            return _cached[2]
        if not config.is_configured:
            _cached = None
            return None
        app = slack_app_build(config)
        _cached = (config, app, SlackRequestHandler(app))
        return _cached[2]


def slack_app() -> App | None:
    handler = slack_handler()
    return handler.app if handler else None


def slack_app_reset() -> None:
    """Forget the cached app: the next request builds one from the environment again."""
    global _cached
    with _lock:
        _cached = None
