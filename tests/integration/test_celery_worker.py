"""A task crosses the real broker to a real worker process, and its broadcast comes back."""

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from aspora.tasks import system_probe_task

pytestmark = pytest.mark.services


def test_a_worker_process_runs_a_task_and_broadcasts_over_the_channel_layer(celery_worker_process):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)("test.")
    async_to_sync(layer.group_add)("system.probe-test", channel)

    result = system_probe_task.apply_async(kwargs={"reply_group": "system.probe-test"})
    report = result.get(timeout=30)
    message = async_to_sync(layer.receive)(channel)

    assert report["database"] == "ok"
    assert report["channel_layer"] == "ok"
    assert report["worker"] != ""
    assert message["event"] == "system.probe"
    assert message["report"] == report
