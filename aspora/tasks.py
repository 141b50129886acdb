"""Operational tasks of the platform itself."""

import socket

from celery import shared_task

from aspora.health import channel_layer_check, database_check
from aspora.realtime import broadcast


@shared_task(name="aspora.system_probe")
def system_probe_task(*, reply_group: str | None = None) -> dict:
    """Check, from inside a worker, that the database and channel layer are reachable.

    With `reply_group` the report is also broadcast there, proving worker → channel layer delivery.
    """
    report = {
        "worker": socket.gethostname(),
        "database": database_check() or "ok",
        "channel_layer": channel_layer_check() or "ok",
    }
    if reply_group:
        broadcast(group=reply_group, event_type="system.probe", payload={"report": report})
    return report
