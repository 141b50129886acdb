"""Telling a person something on their channels. One place, so every front door can add its medium.

A notification always reaches the person's portal stream (`user.<id>`); front doors register a
delivery (`notification_delivery_register`) to reach the person where they have a linked identity
(the Slack bridge sends a direct message). Sent after commit, so nobody hears about a change that
was rolled back; a failing delivery is logged and never undoes the change.
"""

import logging
from collections.abc import Callable

from django.db import transaction

from aspora.realtime import broadcast, user_group
from tenants.models import User

logger = logging.getLogger(__name__)
Delivery = Callable[..., None]
_deliveries: list[Delivery] = []


def notification_delivery_register(deliver: Delivery) -> None:
    """`deliver(user=..., title=..., text=..., link=...)` is called for every notification."""
    if deliver not in _deliveries:
        _deliveries.append(deliver)


def person_notify(*, user: User, title: str, text: str, link: str = "") -> None:
    payload = {"title": title, "text": text, "link": link}

    def send() -> None:
        broadcast(group=user_group(user.pk), event_type="notification.created", payload=payload)
        for deliver in _deliveries:
            try:
                deliver(user=user, **payload)
            except Exception:
                logger.exception("notification delivery %s failed", getattr(deliver, "__name__", deliver))

    transaction.on_commit(send)
