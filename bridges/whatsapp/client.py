"""The Graph API messages endpoint, with a bounded retry on 429 and 5xx."""

import json
import logging
import time
import urllib.error
import urllib.request

from bridges.whatsapp.config import WhatsAppConfig

logger = logging.getLogger(__name__)
ATTEMPTS = 3


class WhatsAppSendError(RuntimeError):
    pass


def whatsapp_message_send(*, config: WhatsAppConfig, to: str, message: dict) -> dict:
    body = json.dumps({"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, **message}).encode()
    request = urllib.request.Request(  # noqa: S310 - the configured Graph API base URL
        f"{config.api_url}/{config.phone_number_id}/messages",
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {config.access_token}", "Content-Type": "application/json"},
    )
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            if exc.code in (429, 500, 502, 503, 504) and attempt < ATTEMPTS:
                delay = float(exc.headers.get("Retry-After") or attempt)
                logger.warning("WhatsApp send got %s; retrying in %.1f s", exc.code, delay)
                time.sleep(min(delay, 10))
                continue
            raise WhatsAppSendError(f"WhatsApp refused the message: HTTP {exc.code}") from exc
    raise WhatsAppSendError("WhatsApp send failed")
