"""Websocket routes. Each front door's consumer lives in its app; this file only wires them."""

from django.urls import path

from bridges.consumers import ConsoleConsumer, PortalEventsConsumer, RunEventsConsumer
from bridges.factory_consumers import FactoryQueueConsumer, FactoryRunConsumer

websocket_urlpatterns = [
    path("ws/events/", PortalEventsConsumer.as_asgi()),
    path("ws/runs/<uuid:run_id>/", RunEventsConsumer.as_asgi()),
    path("ws/console/", ConsoleConsumer.as_asgi()),
    path("ws/factory/", FactoryQueueConsumer.as_asgi()),
    path("ws/factory/runs/<uuid:run_id>/", FactoryRunConsumer.as_asgi()),
]
