from pathlib import Path

from django.conf import settings
from django.utils.module_loading import import_string

CSS = Path(settings.BASE_DIR, "static", "css", "aspora.css").read_bytes()


def test_every_middleware_can_run_in_daphnes_async_chain():
    """One sync-only middleware costs every request two more switches between thread and event loop."""
    sync_only = [path for path in settings.MIDDLEWARE if not getattr(import_string(path), "async_capable", False)]

    assert sync_only == []


async def test_a_static_file_is_served_over_asgi_and_a_page_still_reaches_its_view(async_client):
    static = await async_client.get("/static/css/aspora.css")
    health = await async_client.get("/healthz")

    assert static.status_code == 200
    assert static.getvalue() == CSS
    assert health.status_code == 200


def test_a_static_file_is_served_to_a_sync_caller_too(client):
    static = client.get("/static/css/aspora.css")

    assert static.status_code == 200
    assert static.getvalue() == CSS
