"""Websocket routes. Each front door's consumer lives in its app; this file only wires them."""

from django.urls import path

from bridges.consumers import ConsoleConsumer, PortalEventsConsumer, RunEventsConsumer

websocket_urlpatterns = [
    path("ws/events/", PortalEventsConsumer.as_asgi()),
    path("ws/runs/<uuid:run_id>/", RunEventsConsumer.as_asgi()),
    path("ws/console/", ConsoleConsumer.as_asgi()),
]
