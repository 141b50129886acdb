"""slack_sdk's installation and OAuth state stores over Django models, for multi-workspace installs."""

import logging
import secrets
from datetime import UTC, datetime, timedelta

from django.utils import timezone
from slack_sdk.oauth.installation_store import Bot, Installation, InstallationStore
from slack_sdk.oauth.state_store import OAuthStateStore

from bridges.models import SlackInstallation, SlackOAuthState

logger = logging.getLogger(__name__)


def _jsonable(data: dict) -> dict:
    return {key: value.timestamp() if isinstance(value, datetime) else value for key, value in data.items()}


class DjangoInstallationStore(InstallationStore):
    def __init__(self, *, client_id: str):
        self.client_id = client_id

    @property
    def logger(self) -> logging.Logger:
        return logger

    def save(self, installation: Installation) -> None:
        SlackInstallation.objects.create(
            client_id=self.client_id,
            app_id=installation.app_id or "",
            enterprise_id=installation.enterprise_id or "",
            team_id=installation.team_id or "",
            team_name=installation.team_name or "",
            user_id=installation.user_id or "",
            is_enterprise_install=bool(installation.is_enterprise_install),
            data=_jsonable(installation.to_dict_for_copying()),
            installed_at=datetime.fromtimestamp(installation.installed_at, tz=UTC),
        )

    def save_bot(self, bot: Bot) -> None:
        # Bots are read from the installations they came with; nothing more to keep.
        return None

    def _rows(self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None):
        rows = SlackInstallation.objects.filter(client_id=self.client_id, enterprise_id=enterprise_id or "")
        if is_enterprise_install or (enterprise_id and not team_id):
            return rows.filter(is_enterprise_install=True)
        return rows.filter(team_id=team_id or "")

    def find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        rows = self._rows(enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=is_enterprise_install)
        if user_id is not None:
            rows = rows.filter(user_id=user_id)
        row = rows.order_by("-installed_at", "-pk").first()
        if row is None:
            return None
        installation = Installation(**row.data)
        if user_id is None:
            # The newest installation may be a user's; the bot token is the newest one anyone brought.
            latest_bot = next((r for r in rows.order_by("-installed_at", "-pk") if r.data.get("bot_token")), None)
            if latest_bot is not None and latest_bot.pk != row.pk:
                for key in ("bot_token", "bot_id", "bot_user_id", "bot_scopes", "bot_refresh_token"):
                    setattr(installation, key, latest_bot.data.get(key))
        return installation

    def find_bot(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False
    ) -> Bot | None:
        rows = self._rows(enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=is_enterprise_install)
        row = next((r for r in rows.order_by("-installed_at", "-pk") if r.data.get("bot_token")), None)
        return Installation(**row.data).to_bot() if row else None

    def delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        rows = self._rows(enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=None)
        if user_id is not None:
            rows = rows.filter(user_id=user_id)
        rows.delete()

    def delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        self.delete_installation(enterprise_id=enterprise_id, team_id=team_id)


class DjangoOAuthStateStore(OAuthStateStore):
    def __init__(self, *, expiration_seconds: int = 600):
        self.expiration_seconds = expiration_seconds

    @property
    def logger(self) -> logging.Logger:
        return logger

    def issue(self, *args, **kwargs) -> str:
        state = secrets.token_urlsafe(24)
        SlackOAuthState.objects.create(
            state=state, expires_at=timezone.now() + timedelta(seconds=self.expiration_seconds)
        )
        return state

    def consume(self, state: str) -> bool:
        deleted, _ = SlackOAuthState.objects.filter(state=state, expires_at__gt=timezone.now()).delete()
        return deleted > 0
