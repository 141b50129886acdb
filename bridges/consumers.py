"""Websocket consumers of the portal.

`PortalEventsConsumer` is the portal's personal event stream: a signed-in person joins their own
user group (`user.<id>`) and receives what services broadcast to it. Anonymous sockets are closed
with code 4401 before joining anything; the origin is checked by the ASGI router.
"""

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from aspora.realtime import user_group

UNAUTHENTICATED = 4401


class PortalEventsConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=UNAUTHENTICATED)
            return
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
