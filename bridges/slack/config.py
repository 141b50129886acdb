"""Slack settings, read from the environment each time the app is built, so tests can change them.

Presence means enabled: SLACK_SIGNING_SECRET plus SLACK_BOT_TOKEN (one workspace), or plus
SLACK_CLIENT_ID and SLACK_CLIENT_SECRET (OAuth, several workspaces).
"""

import os
from dataclasses import dataclass, field

DEFAULT_SCOPES = "app_mentions:read,chat:write,commands,im:history,im:read,im:write,users:read"


def _flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class SlackConfig:
    signing_secret: str = field(repr=False)
    bot_token: str = field(repr=False)
    client_id: str
    client_secret: str = field(repr=False)
    app_token: str = field(repr=False)
    api_url: str
    scopes: tuple[str, ...]
    streaming: bool
    update_interval: float
    public_url: str
    link_ttl_seconds: int
    run_timeout: float

    @property
    def uses_oauth(self) -> bool:
        return not self.bot_token and bool(self.client_id and self.client_secret)

    @property
    def is_configured(self) -> bool:
        return bool(self.signing_secret and (self.bot_token or self.uses_oauth))


def slack_config() -> SlackConfig:
    env = os.environ.get
    api_url = env("SLACK_API_URL", "").strip() or "https://slack.com/api/"
    return SlackConfig(
        signing_secret=env("SLACK_SIGNING_SECRET", ""),
        bot_token=env("SLACK_BOT_TOKEN", ""),
        client_id=env("SLACK_CLIENT_ID", ""),
        client_secret=env("SLACK_CLIENT_SECRET", ""),
        app_token=env("SLACK_APP_TOKEN", ""),
        api_url=api_url if api_url.endswith("/") else api_url + "/",
        scopes=tuple(s.strip() for s in env("SLACK_SCOPES", DEFAULT_SCOPES).split(",") if s.strip()),
        streaming=_flag("SLACK_STREAMING"),
        update_interval=float(env("SLACK_UPDATE_INTERVAL", "1.0")),
        public_url=env("ASPORA_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/"),
        link_ttl_seconds=int(env("SLACK_LINK_TTL_SECONDS", "900")),
        run_timeout=float(env("SLACK_RUN_TIMEOUT", "300")),
    )
