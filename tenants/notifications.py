"""Telling a person something on their channels. One place, so every front door can add its medium.

Today a notification reaches the person's portal stream (`user.<id>`); the Slack and WhatsApp
bridges deliver the same notification where the person has a linked identity. Sent after commit,
so nobody hears about a change that was rolled back.
"""

from django.db import transaction

from aspora.realtime import broadcast, user_group
from tenants.models import User


def person_notify(*, user: User, title: str, text: str, link: str = "") -> None:
    payload = {"title": title, "text": text, "link": link}
    transaction.on_commit(
        lambda: broadcast(group=user_group(user.pk), event_type="notification.created", payload=payload)
    )
