"""Websocket consumers of the portal.

- `PortalEventsConsumer` (`ws/events/`): a signed-in person's own stream (`user.<id>`).
- `RunEventsConsumer` (`ws/runs/<id>/?after=<seq>`): one run's events, only for its asker.
- `ConsoleConsumer` (`ws/console/`): the chat console. The client asks (`ask`), follows runs
  (`follow` with the last `seq` it saw, after a reconnect) and decides confirmations (`decide`).

Following a run means: join its group first, then replay the stored events after the last seen
`seq`, then pass live ones on. The channel layer delivers at most once, so a live event whose
`seq` skips ahead triggers a re-read of the stored events, and an already-seen `seq` is dropped.
A run is started in a background task so this consumer keeps delivering its events while it runs
(on the embedded default the run executes in-process). Anonymous sockets are closed with 4401;
someone else's run is refused exactly like a missing one. Every consumer re-checks its session
(identity/sockets.py) and closes with 4440 once it was signed out, deactivated or re-passworded.
"""

import asyncio
import time
import uuid
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from aspora.errors import ApplicationError
from aspora.observability.metrics import WebsocketGaugeMixin
from aspora.observability.tracing import traced
from aspora.realtime import group_name, user_group
from aspora.text import markdown_to_safe_html
from audit.actor import audit_actor
from identity.sockets import SessionWatchMixin
from skills.models import EventType
from skills.selectors import conversation_get_for_user, skill_run_events_after, skill_run_ref_for_user
from skills.services import skill_run_decide, skill_run_start
from tenants.context import Channel
from tenants.services import asker_context_build

UNAUTHENTICATED = 4401
NOT_FOUND = 4404
RUN_ENDED = {EventType.FINAL, EventType.ERROR}  # nothing follows these: a followed run stops being re-read


def _authenticated(scope) -> bool:
    user = scope.get("user")
    return user is not None and user.is_authenticated


@database_sync_to_async
def _run_for(user, run_id):
    try:
        return skill_run_ref_for_user(user=user, run_id=uuid.UUID(str(run_id)))
    except ValueError:
        return None


def _event_out(run_id, seq: int, type: str, data: dict) -> dict:
    if type == "run.final" and "answer_html" not in data:  # events stored before answers were rendered
        data = {**data, "answer_html": markdown_to_safe_html(data.get("answer", ""))}
    return {"event": type, "run_id": str(run_id), "seq": seq, "data": data}


@database_sync_to_async
def _stored_after(run, seq: int) -> list[dict]:
    return [_event_out(run.id, e.seq, e.type, e.data) for e in skill_run_events_after(run=run, seq=seq)]


class NoConnectionSweepMixin:
    """Channels runs `close_old_connections` before every handler, through `sync_to_async`: a hop
    to its one shared worker thread and back for every message of every socket. Every database
    access of these consumers goes through `database_sync_to_async`, which closes stale
    connections itself, so a live event is passed on without the hop."""

    async def dispatch(self, message):
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)


class RunFollowerMixin:
    """Follows any number of runs on one socket, in order and without gaps.

    A live event the channel layer lost shows as a jump in `seq`, and the stored events are re-read.
    A lost *last* event (the answer) leaves no jump to see: so an unfinished run that has been
    quiet for `ASPORA_WS_RUN_RESYNC_SECONDS` is re-read from the store too, until it ends."""

    def _followed(self) -> dict:
        if not hasattr(self, "_last_seq"):
            self._last_seq: dict[str, int] = {}
            self._runs: dict[str, object] = {}
            self._heard: dict[str, float] = {}  # when each run's last event went out
            self._ended: set[str] = set()
            self._quiet_watch: asyncio.Task | None = None
        return self._last_seq

    def _follow_start(self, key: str, after: int) -> None:
        self._followed()[key] = after
        self._heard[key] = time.monotonic()
        if self._quiet_watch is None and settings.ASPORA_WS_RUN_RESYNC_SECONDS > 0:
            self._quiet_watch = asyncio.create_task(self._quiet_runs_resync())

    async def follow_run(self, run, after: int = 0) -> None:
        key = str(run.id)
        self._follow_start(key, after)
        self._runs[key] = run
        await self.channel_layer.group_add(group_name("run", run.id), self.channel_name)
        await self._resync(key)

    async def unfollow_all(self) -> None:
        if getattr(self, "_quiet_watch", None) is not None:
            self._quiet_watch.cancel()
        for key in list(self._followed()):
            await self.channel_layer.group_discard(group_name("run", key), self.channel_name)

    async def _quiet_runs_resync(self) -> None:
        interval = settings.ASPORA_WS_RUN_RESYNC_SECONDS
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            for key in list(self._followed()):
                if key not in self._ended and now - self._heard[key] >= interval:
                    await self._resync(key)

    async def _resync(self, key: str) -> None:
        run = self._runs.get(key) or await _run_for(self.scope["user"], key)
        if run is None:
            return
        self._runs[key] = run
        for event in await _stored_after(run, self._last_seq[key]):
            if event["seq"] > self._last_seq[key]:  # a live event may have passed it on meanwhile
                await self._send_event(key, event)

    async def _forward(self, key: str, event: dict) -> None:
        seq = event["seq"]
        last = self._followed().get(key)
        if last is None or seq <= last:
            return
        if seq > last + 1:
            await self._resync(key)
            return
        await self._send_event(key, _event_out(key, seq, event["event"], event["data"]))

    async def _send_event(self, key: str, event: dict) -> None:
        await self.send_json(event)
        self._last_seq[key] = event["seq"]
        self._heard[key] = time.monotonic()
        if event["event"] in RUN_ENDED:
            self._ended.add(key)

    async def run_events(self, message):
        """A run's events as it stored them, one or several to a message (skill_run_events_record)."""
        for event in message["events"]:
            await self._forward(message["run_id"], event)


class PortalEventsConsumer(WebsocketGaugeMixin, SessionWatchMixin, NoConnectionSweepMixin, AsyncJsonWebsocketConsumer):
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


class RunEventsConsumer(
    WebsocketGaugeMixin, SessionWatchMixin, NoConnectionSweepMixin, RunFollowerMixin, AsyncJsonWebsocketConsumer
):
    async def connect(self):
        if not _authenticated(self.scope):
            await self.close(code=UNAUTHENTICATED)
            return
        run = await _run_for(self.scope["user"], self.scope["url_route"]["kwargs"]["run_id"])
        if run is None:
            await self.close(code=NOT_FOUND)
            return
        query = parse_qs(self.scope.get("query_string", b"").decode())
        await self.accept()
        await self.follow_run(run, after=int(query.get("after", ["0"])[0] or 0))

    async def disconnect(self, code):
        await self.unfollow_all()


@database_sync_to_async
@traced("console ask")
def _start_run(user, run_id, message: str, skill: str | None, conversation_id: str | None):
    conversation = None
    if conversation_id:
        try:
            conversation = conversation_get_for_user(user=user, conversation_id=uuid.UUID(str(conversation_id)))
        except ValueError:
            conversation = None
        if conversation is None:
            raise ApplicationError("No such conversation.")
    context = asker_context_build(user=user, channel=Channel.WEB)
    return skill_run_start(
        context=context, message=message, skill_name=skill or None, conversation=conversation, run_id=run_id
    )


@database_sync_to_async
@traced("console decide")
def _decide(user, run, approve: bool):
    return skill_run_decide(user=user, run=run, approve=approve)


class ConsoleConsumer(
    WebsocketGaugeMixin, SessionWatchMixin, NoConnectionSweepMixin, RunFollowerMixin, AsyncJsonWebsocketConsumer
):
    async def connect(self):
        if not _authenticated(self.scope):
            await self.close(code=UNAUTHENTICATED)
            return
        self.user_group = user_group(self.scope["user"].pk)
        await self.channel_layer.group_add(self.user_group, self.channel_name)
        await self.accept()
        self._tasks: set[asyncio.Task] = set()

    async def disconnect(self, code):
        await self.unfollow_all()
        if getattr(self, "user_group", None):
            await self.channel_layer.group_discard(self.user_group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        handler = {"ask": self._ask, "follow": self._follow, "decide": self._decide}.get(content.get("event"))
        if handler is None:
            await self.send_json({"event": "error", "message": f"Unknown event {content.get('event')!r}."})
            return
        # What the person's ask or decision writes is theirs (audit/actor.py); tasks started here
        # and `database_sync_to_async` threads inherit it.
        with audit_actor(user=self.scope["user"]):
            await handler(content)

    async def _ask(self, content):
        message = str(content.get("message", "")).strip()
        if not message:
            await self.send_json({"event": "error", "message": "Type a question first."})
            return
        run_id = uuid.uuid4()
        # Listen first: on the embedded default the run executes while `_start` is running.
        self._follow_start(str(run_id), 0)
        await self.channel_layer.group_add(group_name("run", run_id), self.channel_name)
        task = asyncio.create_task(self._start(run_id, message, content))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _start(self, run_id, message: str, content: dict):
        user = self.scope["user"]
        try:
            run = await _start_run(user, run_id, message, content.get("skill"), content.get("conversation_id"))
        except ApplicationError as exc:
            self._ended.add(str(run_id))
            await self.send_json(
                {
                    "event": "run.refused",
                    "run_id": str(run_id),
                    "message": exc.message,
                    "client_id": content.get("client_id"),
                }
            )
            return
        self._runs[str(run_id)] = run
        await self.send_json(
            {"event": "run.accepted", "run_id": str(run_id), "conversation_id": str(run.conversation_id),
             "skill": run.skill.name if run.skill else None, "client_id": content.get("client_id")}
        )  # fmt: skip
        await self._resync(str(run_id))

    async def _follow(self, content):
        run = await _run_for(self.scope["user"], content.get("run_id"))
        if run is None:
            await self.send_json({"event": "error", "run_id": content.get("run_id"), "message": "No such run."})
            return
        await self.follow_run(run, after=int(content.get("after") or 0))

    async def _decide(self, content):
        run = await _run_for(self.scope["user"], content.get("run_id"))
        if run is None:
            await self.send_json({"event": "error", "run_id": content.get("run_id"), "message": "No such run."})
            return
        if str(run.id) not in self._followed():
            await self.follow_run(run, after=int(content.get("after") or 0))
        try:
            await _decide(self.scope["user"], run, bool(content.get("approve")))
        except ApplicationError as exc:
            await self.send_json({"event": "error", "run_id": str(run.id), "message": exc.message})

    async def notification_created(self, message):
        await self.send_json({key: value for key, value in message.items() if key != "type"})
