"""Websockets that stop when their session does.

A consumer with `SessionWatchMixin` starts watching once it accepts a signed-in person's socket,
and stops when the socket goes. From then on its session is re-checked every
`ASPORA_WS_SESSION_RECHECK_SECONDS` and before every incoming message, and at once when the
person signs out anywhere, is deactivated or gets a new password (a `session.ended` broadcast to
`user.<id>`, see identity/signals.py).
A session that no longer stands gets a last `session.ended` event naming the reason and the
socket is closed with `SESSION_ENDED`; nothing is sent after that.
"""

import asyncio
import json

from channels.db import database_sync_to_async
from django.conf import settings

from aspora.realtime import user_group
from identity.sessions import session_digest, session_end_reason

SESSION_ENDED = 4440


class SessionWatchMixin:
    async def accept(self, *args, **kwargs):
        await super().accept(*args, **kwargs)
        user = self.scope.get("user")
        if user is not None and user.is_authenticated and not hasattr(self, "_session_user_id"):
            await self.session_watch_start()

    async def websocket_disconnect(self, message):
        await self.session_watch_stop()
        await super().websocket_disconnect(message)

    async def session_watch_start(self) -> None:
        user = self.scope["user"]
        self._session_user_id = user.pk
        self._session_key = getattr(self.scope.get("session"), "session_key", None)
        self._session_group = user_group(user.pk)
        self._session_closed = False
        await self.channel_layer.group_add(self._session_group, self.channel_name)
        interval = settings.ASPORA_WS_SESSION_RECHECK_SECONDS
        self._session_task = asyncio.create_task(self._session_watch(interval)) if interval > 0 else None

    async def session_watch_stop(self) -> None:
        task = getattr(self, "_session_task", None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        if getattr(self, "_session_group", None):
            await self.channel_layer.group_discard(self._session_group, self.channel_name)

    async def _session_watch(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            if not await self.session_still_stands():
                return

    async def session_still_stands(self) -> bool:
        if getattr(self, "_session_closed", False):
            return False
        if not hasattr(self, "_session_user_id"):
            return True  # not watching: never accepted
        reason = await database_sync_to_async(session_end_reason)(
            session_key=self._session_key, user_id=self._session_user_id
        )
        if reason is None:
            return True
        await self._session_end(reason)
        return False

    async def _session_end(self, reason: str) -> None:
        if self._session_closed:
            return
        await self.send(text_data=json.dumps({"event": "session.ended", "reason": reason}))
        self._session_closed = True
        await self.close(code=SESSION_ENDED)

    async def send(self, *args, **kwargs):
        if getattr(self, "_session_closed", False):
            return  # a closing socket passes nothing more on
        await super().send(*args, **kwargs)

    async def send_json(self, *args, **kwargs):
        if getattr(self, "_session_closed", False):
            return
        await super().send_json(*args, **kwargs)

    async def websocket_receive(self, message):
        if await self.session_still_stands():
            await super().websocket_receive(message)

    async def session_ended(self, message):
        """A sign-out of this person somewhere (ours, or another session of theirs), or a
        deactivation or new password: re-check, or close at once if it names our session."""
        if not hasattr(self, "_session_user_id"):
            return
        if message.get("session") == session_digest(self._session_key):
            await self._session_end("signed_out")
        else:
            await self.session_still_stands()
