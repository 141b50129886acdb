"""Websocket consumers of the portal.

- `PortalEventsConsumer`: a signed-in person's own stream (`user.<id>`): notifications.
- `RunEventsConsumer`: one run's events (`run.<id>`), only for the person who asked. It joins the
  group first, then replays the stored events after `?after=<seq>`, then follows live; because the
  channel layer delivers at most once, a live event whose `seq` skips ahead triggers a re-sync from
  the stored events, and an already-seen `seq` is dropped.

Anonymous sockets are closed with 4401 before joining anything, someone else's run with 4404 (as
if it did not exist); the origin is checked by the ASGI router.
"""

from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from aspora.realtime import group_name, user_group
from skills.selectors import skill_run_events_after, skill_run_get_for_user

UNAUTHENTICATED = 4401
NOT_FOUND = 4404


def _authenticated(scope) -> bool:
    user = scope.get("user")
    return user is not None and user.is_authenticated


class PortalEventsConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        if not _authenticated(self.scope):
            await self.close(code=UNAUTHENTICATED)
            return
        user = self.scope["user"]
        self.group = user_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json({"event": "session.ready", "user": user.username})

    async def disconnect(self, code):
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        if content.get("event") == "ping":
            await self.send_json({"event": "pong", "echo": content.get("echo")})
        else:
            await self.send_json({"event": "error", "message": f"unknown event {content.get('event')!r}"})

    async def notification_created(self, message):
        await self.send_json({key: value for key, value in message.items() if key != "type"})

    async def system_probe(self, message):
        await self.send_json({key: value for key, value in message.items() if key != "type"})


@database_sync_to_async
def _run_for(user, run_id):
    return skill_run_get_for_user(user=user, run_id=run_id)


@database_sync_to_async
def _stored_after(run, seq: int) -> list[dict]:
    return [
        {"event": e.type, "run_id": str(run.id), "seq": e.seq, "data": e.data}
        for e in skill_run_events_after(run=run, seq=seq)
    ]


class RunEventsConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        if not _authenticated(self.scope):
            await self.close(code=UNAUTHENTICATED)
            return
        try:
            self.run = await _run_for(self.scope["user"], self.scope["url_route"]["kwargs"]["run_id"])
        except ValueError:
            self.run = None
        if self.run is None:
            await self.close(code=NOT_FOUND)
            return
        query = parse_qs(self.scope.get("query_string", b"").decode())
        self.last_seq = int(query.get("after", ["0"])[0] or 0)
        self.group = group_name("run", self.run.id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self._resync()

    async def disconnect(self, code):
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def _resync(self):
        for event in await _stored_after(self.run, self.last_seq):
            await self.send_json(event)
            self.last_seq = event["seq"]

    async def _forward(self, message):
        seq = message["seq"]
        if seq <= self.last_seq:
            return
        if seq > self.last_seq + 1:
            await self._resync()
            return
        await self.send_json(
            {"event": message["event"], "run_id": message["run_id"], "seq": seq, "data": message["data"]}
        )
        self.last_seq = seq

    run_started = run_delta = run_tool_call = run_tool_result = _forward
    run_confirmation_needed = run_confirmed = run_final = run_error = _forward
