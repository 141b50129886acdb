"""Readiness checks: can this process reach the database, the channel layer and the broker?

Each check returns None when healthy or a short reason naming what is down. No secret (URL
passwords included) ever appears in a reason.
"""

import asyncio
import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from kombu import Connection

CHECK_TIMEOUT_SECONDS = 2.0


def _describe(exc: BaseException) -> str:
    return type(exc).__name__


def database_check() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        return f"database unreachable ({_describe(exc)})"
    return None


async def _channel_layer_round_trip() -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel("readyz.")
    token = uuid.uuid4().hex
    await layer.send(channel, {"type": "readyz.probe", "token": token})
    message = await layer.receive(channel)
    if message.get("token") != token:
        raise RuntimeError("channel layer returned another message")


def channel_layer_check() -> str | None:
    async def probe() -> None:
        await asyncio.wait_for(_channel_layer_round_trip(), timeout=CHECK_TIMEOUT_SECONDS)

    try:
        async_to_sync(probe)()
    except Exception as exc:  # noqa: BLE001
        return f"channel layer unreachable ({_describe(exc)})"
    return None


def broker_check() -> str | None:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return None  # tasks run in-process: there is no broker to reach
    try:
        with Connection(settings.CELERY_BROKER_URL, connect_timeout=CHECK_TIMEOUT_SECONDS) as conn:
            conn.ensure_connection(max_retries=1, timeout=CHECK_TIMEOUT_SECONDS)
    except Exception as exc:  # noqa: BLE001
        return f"broker unreachable ({_describe(exc)})"
    return None


def readiness_report() -> dict[str, str]:
    checks = {"database": database_check, "channel_layer": channel_layer_check, "broker": broker_check}
    return {name: (check() or "ok") for name, check in checks.items()}
