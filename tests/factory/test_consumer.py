"""The factory's websockets through the full ASGI app: a run's page and the tenant's queue hear
what the services broadcast, and nobody hears another tenant's runs."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from aspora.asgi import application
from factory.models import FactoryRun, RunStatus, StageName
from factory.services import run_broadcast, run_update, stage_log, stage_start
from tests.factory.builders import factory_world, run_make

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(transactional_db, settings, tmp_path):
    settings.ASPORA_FACTORY_DIR = tmp_path
    return factory_world()


@database_sync_to_async
def _cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def _socket(path: str, user=None) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://localhost")]
    if user is not None:
        headers.append((b"cookie", await _cookie(user)))
    return WebsocketCommunicator(application, path, headers=headers)


async def test_a_run_page_hears_its_stages_log_lines_and_status(world):
    run = world.reviewing
    socket = await _socket(f"/ws/factory/runs/{run.id}/", world.people["olivia"])
    connected, _ = await socket.connect()
    ready = await socket.receive_json_from(timeout=5)

    stage = await database_sync_to_async(stage_start)(run=run, name=StageName.TEST)
    await database_sync_to_async(stage_log)(stage=stage, line="$ python -m pytest -q")
    await database_sync_to_async(run_update)(run=run, status=RunStatus.FAILED, stop_reason="tests failed")

    assert connected
    assert ready["event"] == "factory.ready"
    assert ready["run"]["status"] == "running"
    started = await socket.receive_json_from(timeout=5)
    assert started["event"] == "factory.stage"
    assert (started["stage"]["name"], started["stage"]["status"], started["stage"]["id"]) == (
        "test",
        "running",
        stage.pk,
    )
    assert await socket.receive_json_from(timeout=5) == {
        "event": "factory.log",
        "run_id": str(run.id),
        "stage": "test",
        "stage_id": stage.pk,
        "line": "$ python -m pytest -q",
    }
    ended = await socket.receive_json_from(timeout=5)
    assert (ended["event"], ended["run"]["status"], ended["run"]["stop_reason"]) == (
        "factory.run",
        "failed",
        "tests failed",
    )
    assert await socket.receive_nothing(timeout=0.2)
    await socket.disconnect()


async def test_anonymous_sockets_are_closed_before_joining_anything(world):
    for path in (f"/ws/factory/runs/{world.waiting.id}/", "/ws/factory/"):
        socket = await _socket(path)
        connected, code = await socket.connect()
        assert (connected, code) == (False, 4401)
        await socket.disconnect()  # the server's side of a refused handshake: the consumer ends here


async def test_another_tenants_run_is_refused_like_a_missing_one(world):
    theo = await _socket(f"/ws/factory/runs/{world.waiting.id}/", world.people["theo"])
    missing = await _socket("/ws/factory/runs/00000000-0000-0000-0000-000000000000/", world.people["paula"])

    assert await theo.connect() == (False, 4404)
    assert await missing.connect() == (False, 4404)
    await theo.disconnect()
    await missing.disconnect()


async def test_the_queue_hears_its_tenants_runs_once_each_and_stages_of_runs_in_progress(world):
    socket = await _socket("/ws/factory/", world.people["paula"])
    await socket.connect()
    assert await socket.receive_json_from(timeout=5) == {"event": "factory.ready"}

    await database_sync_to_async(stage_start)(run=world.waiting, name=StageName.DEPLOY)
    stage = await socket.receive_json_from(timeout=5)
    assert (stage["event"], stage["run_id"], stage["stage"]["name"]) == (
        "factory.stage",
        str(world.waiting.id),
        "deploy",
    )

    await database_sync_to_async(run_update)(run=world.reviewing, status=RunStatus.STOPPED)
    stopped = await socket.receive_json_from(timeout=5)
    assert (stopped["event"], stopped["run"]["title"], stopped["run"]["status"]) == (
        "factory.run",
        "ECM stale escalations",
        "stopped",
    )
    assert await socket.receive_nothing(timeout=0.3)  # not twice, though it came on two groups

    # A stopped run's later stages are no longer the queue's business; another tenant's never were.
    await database_sync_to_async(stage_start)(run=world.reviewing, name=StageName.TEST)
    await database_sync_to_async(run_update)(run=world.foreign, status=RunStatus.FAILED)
    assert await socket.receive_nothing(timeout=0.3)
    await socket.disconnect()


async def test_the_queue_follows_a_run_queued_after_it_connected(world):
    socket = await _socket("/ws/factory/", world.people["olivia"])
    await socket.connect()
    await socket.receive_json_from(timeout=5)

    def queue_one() -> FactoryRun:
        run = run_make(requester=world.people["paula"], title="FX quote v2", status=RunStatus.QUEUED)
        run_broadcast(run=run)
        return run

    run = await database_sync_to_async(queue_one)()
    queued = await socket.receive_json_from(timeout=5)
    await database_sync_to_async(stage_start)(run=run, name=StageName.GENERATE)
    generate = await socket.receive_json_from(timeout=5)

    assert (queued["event"], queued["run"]["title"], queued["run"]["status"]) == (
        "factory.run",
        "FX quote v2",
        "queued",
    )
    assert (generate["event"], generate["run_id"], generate["stage"]["name"]) == (
        "factory.stage",
        str(run.id),
        "generate",
    )
    await socket.disconnect()
