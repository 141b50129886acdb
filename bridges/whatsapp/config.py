import os
from dataclasses import dataclass

VARIABLES = (
    "WHATSAPP_VERIFY_TOKEN",
    "WHATSAPP_APP_SECRET",
    "WHATSAPP_ACCESS_TOKEN",
    "WHATSAPP_PHONE_NUMBER_ID",
    "WHATSAPP_API_URL",
)


@dataclass(frozen=True)
class WhatsAppConfig:
    verify_token: str
    app_secret: str
    access_token: str
    phone_number_id: str
    api_url: str
    # Optional: where link pages are served (ASPORA_PUBLIC_URL) and how long a link lasts.
    public_url: str = "http://127.0.0.1:8000"
    link_ttl_seconds: int = 900


def whatsapp_config() -> WhatsAppConfig | None:
    """The bridge's settings from the environment (read on each call), or None while any is missing."""
    values = [os.environ.get(name, "") for name in VARIABLES]
    if not all(values):
        return None
    verify_token, app_secret, access_token, phone_number_id, api_url = values
    return WhatsAppConfig(
        verify_token,
        app_secret,
        access_token,
        phone_number_id,
        api_url.rstrip("/"),
        public_url=os.environ.get("ASPORA_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/"),
        link_ttl_seconds=int(os.environ.get("WHATSAPP_LINK_TTL_SECONDS", "900")),
    )


def whatsapp_missing() -> list[str]:
    return [name for name in VARIABLES if not os.environ.get(name)]
