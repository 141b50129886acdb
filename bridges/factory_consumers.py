"""Websocket consumers of the Code Factory pages.

- `FactoryRunConsumer` (`ws/factory/runs/<id>/`): one run's `factory.run`, `factory.stage` and
  `factory.log` events, for people of the run's tenant.
- `FactoryQueueConsumer` (`ws/factory/`): the tenant's queue. It hears every run's `factory.run`
  on the tenant's group, and the `factory.stage` events of runs still in progress, whose groups it
  joins on connect and as runs start (and leaves as they end).

Both join their groups first and then send `factory.ready`: the page re-reads what it shows on
ready, so nothing that happened between rendering and subscribing is lost. The events themselves
are built and sent by `factory.services`; these consumers only forward them. Anonymous sockets are
closed with 4401; another tenant's run is refused with 4404, exactly like a missing one; a socket
whose session ends is closed with 4440 (identity/sockets.py).
"""

import uuid

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from aspora.observability.metrics import WebsocketGaugeMixin
from bridges.consumers import NOT_FOUND, UNAUTHENTICATED
from factory.models import TERMINAL_RUN_STATUSES
from factory.selectors import factory_run_get_for_user, factory_run_list_for_user
from factory.services import run_group, run_payload, tenant_group
from identity.sockets import SessionWatchMixin

FOLLOWED_RUNS_LIMIT = 200


def _authenticated(scope) -> bool:
    user = scope.get("user")
    return user is not None and user.is_authenticated


def _event(message: dict) -> dict:
    return {key: value for key, value in message.items() if key != "type"}


@database_sync_to_async
def _run_for(user, run_id):
    try:
        run = factory_run_get_for_user(user=user, run_id=uuid.UUID(str(run_id)))
    except ValueError:
        return None
    return None if run is None else (run, run_payload(run))


@database_sync_to_async
def _runs_in_progress(user) -> list[str]:
    runs = factory_run_list_for_user(user=user).exclude(status__in=TERMINAL_RUN_STATUSES)
    return [str(pk) for pk in runs.values_list("pk", flat=True)[:FOLLOWED_RUNS_LIMIT]]


class FactoryRunConsumer(WebsocketGaugeMixin, SessionWatchMixin, AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.group = None
        if not _authenticated(self.scope):
            await self.close(code=UNAUTHENTICATED)
            return
        found = await _run_for(self.scope["user"], self.scope["url_route"]["kwargs"]["run_id"])
        if found is None:
            await self.close(code=NOT_FOUND)
            return
        run, payload = found
        self.group = run_group(run.id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json({"event": "factory.ready", "run_id": str(run.id), "run": payload})

    async def disconnect(self, code):
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        await self.send_json({"event": "error", "message": "This socket only sends; it takes no messages."})

    async def factory_run(self, message):
        await self.send_json(_event(message))

    factory_stage = factory_log = factory_run


class FactoryQueueConsumer(WebsocketGaugeMixin, SessionWatchMixin, AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.groups_joined: set[str] = set()
        self.last_run: dict[str, dict] = {}
        if not _authenticated(self.scope):
            await self.close(code=UNAUTHENTICATED)
            return
        user = self.scope["user"]
        if user.tenant_id is not None:
            await self._join(tenant_group(user.tenant_id))
            for run_id in await _runs_in_progress(user):
                await self._join(run_group(run_id))
        await self.accept()
        await self.send_json({"event": "factory.ready"})

    async def _join(self, group: str) -> None:
        if group not in self.groups_joined:
            self.groups_joined.add(group)
            await self.channel_layer.group_add(group, self.channel_name)

    async def _leave(self, group: str) -> None:
        if group in self.groups_joined:
            self.groups_joined.discard(group)
            await self.channel_layer.group_discard(group, self.channel_name)

    async def disconnect(self, code):
        for group in list(getattr(self, "groups_joined", ())):
            await self._leave(group)

    async def receive_json(self, content, **kwargs):
        await self.send_json({"event": "error", "message": "This socket only sends; it takes no messages."})

    async def factory_run(self, message):
        run_id, run = message["run_id"], message["run"]
        # A run's change reaches us twice while we follow it (its own group and the tenant's).
        if self.last_run.get(run_id) == run:
            return
        self.last_run[run_id] = run
        if run["status"] in TERMINAL_RUN_STATUSES:
            await self._leave(run_group(run_id))
        else:
            await self._join(run_group(run_id))
        await self.send_json(_event(message))

    async def factory_stage(self, message):
        await self.send_json(_event(message))

    async def factory_log(self, message):
        """Log lines are for a run's own page, not the queue."""
