"""The bolt Apps, built lazily from the environment and cached until `slack_app_reset()`.

Two flavours of the same listeners:

- `slack_app()` handles HTTP requests *inside a job*: `/slack/events` (`bridges/slack/ack.py`)
  has already verified the v0 signature and timestamp, deduplicated and acknowledged, so this
  App skips request verification and its listeners do the work there and then (`jobs.py`).
  Nothing but verified bodies ever reaches a job: the queue is ours, not Slack's.
- `slack_socket_app()` is for Socket Mode, where bolt itself acks over the socket: its
  listeners ack and hand the body to `dispatch.slack_job_submit`, so nothing slow holds the ack.

The OAuth install and redirect pages (`slack_handler()`) are served by the HTTP App.
"""

import logging
import threading
from collections.abc import Callable

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
Handoff = Callable[..., None]

_lock = threading.Lock()
_cached: dict[str, tuple[SlackConfig, App, SlackRequestHandler]] = {}


def _work_now(*, kind: str, body: dict) -> None:
    from bridges.slack.jobs import slack_job_run

    slack_job_run(kind=kind, body=body)


def _listeners_register(app: App, handoff: Handoff) -> None:
    @app.event("app_mention")
    def on_mention(ack, body):
        ack()
        handoff(kind="event", body=body)

    @app.event("message")
    def on_message(ack, body, event):
        ack()
        # Only a person's direct message to the bot; channel chatter and bot echoes are not questions.
        if event.get("channel_type") == "im" and not event.get("subtype") and not event.get("bot_id"):
            handoff(kind="event", body=body)

    @app.command("/aspora")
    def on_command(ack, body):
        ack()
        handoff(kind="command", body=body)

    @app.action(CONFIRM_ACTION)
    @app.action(REJECT_ACTION)
    def on_decision(ack, body):
        ack()
        handoff(kind="action", body=body)


def slack_app_build(config: SlackConfig, *, socket_mode: bool = False) -> App:
    common = {
        "name": "aspora",
        "logger": logger,
        "signing_secret": config.signing_secret,
        "process_before_response": True,
        # HTTP requests were verified by the ack path before they were queued (see the module docstring).
        "request_verification_enabled": socket_mode,
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
    _listeners_register(app, slack_job_submit if socket_mode else _work_now)
    return app


def _cached_handler(flavour: str) -> SlackRequestHandler | None:
    config = slack_config()
    with _lock:
        cached = _cached.get(flavour)
        if cached is not None and cached[0] == config:
            return cached[2]
        if not config.is_configured:
            _cached.pop(flavour, None)
            return None
        app = slack_app_build(config, socket_mode=flavour == "socket")
        _cached[flavour] = (config, app, SlackRequestHandler(app))
        return _cached[flavour][2]


def slack_handler() -> SlackRequestHandler | None:
    """The Django handler of the HTTP App (OAuth pages); None while the bridge is not configured."""
    return _cached_handler("http")


def slack_app() -> App | None:
    """The App that handles a verified HTTP request inside a job; None while not configured."""
    handler = _cached_handler("http")
    return handler.app if handler else None


def slack_socket_app() -> App | None:
    handler = _cached_handler("socket")
    return handler.app if handler else None


def slack_app_reset() -> None:
    """Forget the cached Apps: the next request builds them from the environment again."""
    with _lock:
        _cached.clear()
