"""Following a run over its websocket: replay, live events, gaps re-synced, strangers refused."""

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import Client

from aspora.asgi import application
from aspora.realtime import abroadcast
from skills.models import SkillRunEvent
from skills.services import run_group, skill_run_decide, skill_run_events_record, skill_run_start
from tenants.models import User
from tests.skills.conftest import context_for

pytestmark = pytest.mark.usefixtures("demo")


@database_sync_to_async
def _cookie(username: str) -> bytes:
    client = Client()
    client.force_login(User.objects.get(username=username))
    return f"sessionid={client.cookies['sessionid'].value}".encode()


@database_sync_to_async
def _start(username: str, message: str):
    run = skill_run_start(context=context_for(username), message=message)
    run.refresh_from_db()
    return run


@database_sync_to_async
def _decide(run, approve: bool):
    return skill_run_decide(user=run.user, run=run, approve=approve)


async def _socket(run, username: str, after: int = 0) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://localhost"), (b"cookie", await _cookie(username))]
    return WebsocketCommunicator(application, f"/ws/runs/{run.id}/?after={after}", headers=headers)


async def _delta_live(run, seq: int, data: dict) -> None:
    """The broadcast of one stored delta, as skill_run_events_record sends it."""
    payload = {"run_id": str(run.id), "events": [{"seq": seq, "event": "run.delta", "data": data}]}
    await abroadcast(group=run_group(run.id), event_type="run.events", payload=payload)


async def _until(socket: WebsocketCommunicator, event: str) -> list[dict]:
    received = []
    while not received or received[-1]["event"] != event:
        received.append(await socket.receive_json_from(timeout=10))
    return received


async def test_a_late_listener_replays_the_whole_run():
    run = await _start("sarah", "show my tickets")
    socket = await _socket(run, "sarah")

    connected, _ = await socket.connect()
    events = await _until(socket, "run.final")

    assert connected
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["event"] == "run.started"
    assert events[-1]["data"]["answer"] == run.answer
    assert await socket.receive_nothing(timeout=0.2)
    await socket.disconnect()


async def test_a_listener_resumes_after_the_last_event_it_saw():
    run = await _start("sarah", "show my tickets")
    socket = await _socket(run, "sarah", after=2)

    await socket.connect()
    events = await _until(socket, "run.final")

    assert events[0]["seq"] == 3
    await socket.disconnect()


async def test_events_arrive_live_after_a_confirmation():
    run = await _start("sarah", "escalate ticket 1043 because customs")
    socket = await _socket(run, "sarah")
    await socket.connect()
    replayed = await _until(socket, "run.confirmation_needed")

    await _decide(run, approve=True)
    live = await _until(socket, "run.final")

    assert replayed[-1]["data"]["calls"][0]["name"] == "escalate_ticket"
    assert [e["event"] for e in live][:2] == ["run.confirmed", "run.tool_result"]
    assert [e["seq"] for e in replayed + live] == list(range(1, len(replayed) + len(live) + 1))
    await socket.disconnect()


@database_sync_to_async
def _store_silently(run, seq: int, text: str) -> None:
    SkillRunEvent.objects.create(run=run, seq=seq, type="run.delta", data={"text": text})


async def test_a_gap_in_live_events_is_filled_from_the_stored_events():
    run = await _start("sarah", "escalate ticket 1043 because customs")
    socket = await _socket(run, "sarah")
    await socket.connect()
    last = (await _until(socket, "run.confirmation_needed"))[-1]["seq"]

    # Two events were stored but their broadcasts were lost; the third one arrives.
    await _store_silently(run, last + 1, "lost one ")
    await _store_silently(run, last + 2, "lost two ")
    await _store_silently(run, last + 3, "arrived")
    await _delta_live(run, last + 3, {"text": "arrived"})
    received = [await socket.receive_json_from(timeout=5) for _ in range(3)]
    await _delta_live(run, last + 2, {})

    assert [(e["seq"], e["data"]["text"]) for e in received] == [
        (last + 1, "lost one "),
        (last + 2, "lost two "),
        (last + 3, "arrived"),
    ]
    assert await socket.receive_nothing(timeout=0.2)  # the stale duplicate was dropped
    await socket.disconnect()


async def test_a_lost_last_event_still_reaches_the_listener(settings):
    """No later event can show the gap when the answer itself is lost: a quiet run is re-read."""
    settings.ASPORA_WS_RUN_RESYNC_SECONDS = 0.2
    run = await _start("sarah", "escalate ticket 1043 because customs")
    socket = await _socket(run, "sarah")
    await socket.connect()
    last = (await _until(socket, "run.confirmation_needed"))[-1]["seq"]

    # The run ends and its answer is stored, but the answer's broadcast is lost.
    await database_sync_to_async(SkillRunEvent.objects.create)(
        run=run, seq=last + 1, type="run.final", data={"answer": "Escalated.", "answer_html": "<p>Escalated.</p>"}
    )
    final = await socket.receive_json_from(timeout=5)

    assert (final["event"], final["seq"], final["data"]["answer"]) == ("run.final", last + 1, "Escalated.")
    assert await socket.receive_nothing(timeout=0.6)  # an ended run is neither re-read nor repeated
    await socket.disconnect()


async def test_a_live_event_is_passed_on_without_a_database_hop(monkeypatch):
    run = await _start("sarah", "escalate ticket 1043 because customs")
    socket = await _socket(run, "sarah")
    await socket.connect()
    last = (await _until(socket, "run.confirmation_needed"))[-1]["seq"]
    sweeps = []

    async def sweep():
        sweeps.append(1)

    monkeypatch.setattr("channels.consumer.aclose_old_connections", sweep)

    await _delta_live(run, last + 1, {"text": "live"})
    received = await socket.receive_json_from(timeout=5)

    assert (received["seq"], received["data"]) == (last + 1, {"text": "live"})
    assert sweeps == []
    await socket.disconnect()


async def test_events_stored_together_reach_the_listener_in_order_as_one_message(monkeypatch):
    run = await _start("sarah", "escalate ticket 1043 because customs")
    socket = await _socket(run, "sarah")
    await socket.connect()
    last = (await _until(socket, "run.confirmation_needed"))[-1]["seq"]
    layer, sent = get_channel_layer(), []
    group_send = layer.group_send

    async def counted(group, message):
        sent.append(message["type"])
        await group_send(group, message)

    monkeypatch.setattr(layer, "group_send", counted)

    together = [(last + 1, "run.delta", {"text": "Escalated."}), (last + 2, "run.final", {"answer": "Escalated."})]
    await database_sync_to_async(skill_run_events_record)(run=run, events=together)
    received = [await socket.receive_json_from(timeout=5) for _ in range(2)]

    assert [(e["seq"], e["event"]) for e in received] == [(last + 1, "run.delta"), (last + 2, "run.final")]
    assert sent == ["run_events"]  # one message for the server to take off the channel layer, not two
    assert await socket.receive_nothing(timeout=0.2)
    await socket.disconnect()


async def test_someone_elses_run_is_refused_as_if_it_did_not_exist():
    run = await _start("sarah", "show my tickets")
    socket = await _socket(run, "omar")

    connected, code = await socket.connect()

    assert (connected, code) == (False, 4404)
    await socket.disconnect()
