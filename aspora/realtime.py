"""The one place that sends to the channel layer.

Services and tasks broadcast through `broadcast()` (or `abroadcast()` inside an event loop);
nothing else calls `group_send`. Group names are built here from ids only
(`[A-Za-z0-9._-]`, under 100 characters), never from free text.
"""

import re

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

_GROUP_NAME = re.compile(r"^[A-Za-z0-9._-]{1,99}$")


def group_name(entity: str, entity_id: int | str) -> str:
    return _checked(f"{entity}.{entity_id}")


def user_group(user_id: int) -> str:
    return group_name("user", user_id)


def _checked(group: str) -> str:
    if not _GROUP_NAME.match(group):
        raise ValueError(f"invalid channel group name {group!r}")
    return group


def _message(event_type: str, payload: dict) -> dict:
    # A dotted event type (`run.delta`) reaches the consumer's `run_delta()` handler.
    return {"type": event_type.replace(".", "_"), "event": event_type, **payload}


def broadcast(*, group: str, event_type: str, payload: dict) -> None:
    async_to_sync(get_channel_layer().group_send)(_checked(group), _message(event_type, payload))


async def abroadcast(*, group: str, event_type: str, payload: dict) -> None:
    await get_channel_layer().group_send(_checked(group), _message(event_type, payload))
