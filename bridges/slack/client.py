"""Web API clients: one base URL (SLACK_API_URL), 429s retried after Retry-After, a token per workspace."""

import logging
import time

from slack_sdk import WebClient
from slack_sdk.http_retry import RetryHandler
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler

from bridges.slack.config import SlackConfig, slack_config

logger = logging.getLogger(__name__)


class RetryAfterHandler(RetryHandler):
    """Retry a 429 after exactly the Retry-After Slack sent (the built-in one adds up to a second)."""

    def __init__(self, max_retry_count: int = 3):
        super().__init__(max_retry_count=max_retry_count)

    def _can_retry(self, *, state, request, response=None, error=None) -> bool:
        return response is not None and response.status_code == 429

    def prepare_for_next_attempt(self, *, state, request, response=None, error=None) -> None:
        if response is None:
            raise error  # type: ignore[misc]
        headers = {key.lower(): value for key, value in response.headers.items()}
        value = headers.get("retry-after", ["1"])
        value = value[0] if isinstance(value, list) else value
        try:
            delay = max(0.0, float(value))
        except ValueError:
            delay = 1.0
        logger.info("Slack rate-limited %s; retrying in %.1f s", request.url.rsplit("/", 1)[-1], delay)
        time.sleep(delay)
        state.next_attempt_requested = True
        state.increment_current_attempt()


def slack_web_client(*, token: str | None = None, config: SlackConfig | None = None) -> WebClient:
    config = config or slack_config()
    return WebClient(
        token=token or None,
        base_url=config.api_url,
        timeout=10,
        retry_handlers=[ConnectionErrorRetryHandler(), RetryAfterHandler()],
    )


def slack_client_for(*, team_id: str, enterprise_id: str | None = None) -> WebClient:
    """The bot's client for a workspace: the single bot token, or the OAuth installation's."""
    config = slack_config()
    if config.bot_token:
        return slack_web_client(token=config.bot_token, config=config)
    from bridges.slack.stores import DjangoInstallationStore

    bot = DjangoInstallationStore(client_id=config.client_id).find_bot(enterprise_id=enterprise_id, team_id=team_id)
    if bot is None:
        raise LookupError(f"The Slack app is not installed in workspace {team_id}.")
    return slack_web_client(token=bot.bot_token, config=config)
