"""The Aspora Django project: settings, URLs, ASGI and websocket routing, the Celery app, and the
thin shared kernel every app leans on (errors, the one realtime broadcast helper, readiness checks).
"""

from aspora.celery import app as celery_app

__all__ = ["celery_app"]
