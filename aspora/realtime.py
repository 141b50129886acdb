"""The one place that sends to the channel layer.

Services and tasks broadcast through `broadcast()` (or `abroadcast()` inside an event loop);
nothing else calls `group_send`. Group names are built here from ids only
(`[A-Za-z0-9._-]`, under 100 characters), never from free text.

A sync caller inside an ASGI server's `sync_to_async` thread sends on the server's own loop (as
`async_to_sync` does). Any other sync caller (a Celery worker, a command, a tool's thread) sends on
the process's long-lived loop (`aspora.eventloop`), so its Redis connections are reused instead
of a thread, a loop and a connection being made for every event.
"""

import logging
import os
import re

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer
from redis.exceptions import RedisError

from aspora import eventloop

logger = logging.getLogger(__name__)
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
    # A dotted event type (`run.events`) reaches the consumer's `run_events()` handler.
    return {"type": event_type.replace(".", "_"), "event": event_type, **payload}


def _in_server_thread() -> bool:
    """Whether this thread runs an ASGI server's `sync_to_async` call (asgiref records its loop)."""
    local = SyncToAsync.threadlocal
    server_loop = getattr(local, "main_event_loop", None)
    return (
        server_loop is not None
        and getattr(local, "main_event_loop_pid", None) == os.getpid()
        and server_loop.is_running()
    )


def broadcast(*, group: str, event_type: str, payload: dict) -> None:
    """Send to the group's listeners, best effort: what is broadcast is already stored (a run's events,
    a notification), and listeners catch up from the store by `seq`. So a channel layer that is down
    (Redis restarting) costs listeners a re-sync, never the run or the write that broadcast it."""
    group = _checked(group)
    message = _message(event_type, payload)
    layer = get_channel_layer()
    try:
        if _in_server_thread():
            # The in-memory layer (embedded default) only wakes listeners from the server's own loop.
            async_to_sync(layer.group_send)(group, message)
        else:
            eventloop.run(layer.group_send(group, message))
    except (RedisError, OSError) as exc:
        logger.warning("broadcast of %s to %s lost: channel layer unreachable (%s)", event_type, group, exc)


async def abroadcast(*, group: str, event_type: str, payload: dict) -> None:
    await get_channel_layer().group_send(_checked(group), _message(event_type, payload))
