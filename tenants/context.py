"""`AskerContext`: who is asking, from where. Injected into every skill run.

Tools read the user, team and tenant from here, never from arguments a model chose. It is
frozen so nothing downstream can widen it mid-run.
"""

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from tenants.models import Team, Tenant, User


class Channel:
    WEB = "web"
    SLACK = "slack"
    WHATSAPP = "whatsapp"
    TERMINAL = "terminal"
    API = "api"
    EVAL = "eval"
    ALL = (WEB, SLACK, WHATSAPP, TERMINAL, API, EVAL)


@dataclass(frozen=True)
class AskerContext:
    user: User
    team: Team
    tenant: Tenant
    channel: str
    extra: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if self.channel not in Channel.ALL:
            raise ValueError(f"unknown channel {self.channel!r}; expected one of {', '.join(Channel.ALL)}")
        if self.team.tenant_id != self.tenant.pk or self.user.tenant_id != self.tenant.pk:
            raise ValueError("user, team and tenant of a context must belong to one tenant")
        if not isinstance(self.extra, MappingProxyType):
            object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))

    def summary(self) -> dict[str, Any]:
        """What a model may be told about the asker: names and ids, no secrets."""
        return {
            "user": self.user.username,
            "user_display_name": str(self.user),
            "team": self.team.name,
            "tenant": self.tenant.name,
            "channel": self.channel,
            **{key: str(value) for key, value in self.extra.items()},
        }
