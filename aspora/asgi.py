"""ASGI entry point: HTTP through Django (but for Slack's acks), websockets through Channels.

Websockets authenticate with the Django session and must come from an allowed origin.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aspora.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import get_resolver  # noqa: E402

from aspora.routing import websocket_urlpatterns  # noqa: E402
from aspora.runtime import startup_objects_freeze  # noqa: E402
from bridges.slack.asgi import slack_events_shortcut  # noqa: E402

if settings.ASPORA_WATCH_DOMAINS:
    from skills.registry import packs_watch_in_background

    packs_watch_in_background()

application = ProtocolTypeRouter(
    {
        # Slack's events are acknowledged before Django's request cycle (see bridges/slack/asgi.py).
        "http": slack_events_shortcut(django_asgi_app),
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)

get_resolver().url_patterns  # noqa: B018 - the URLconf and its views load now, not on the first request
startup_objects_freeze()
