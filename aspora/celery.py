"""The Celery app. Configuration comes from Django settings (`CELERY_*`)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aspora.settings")

app = Celery("aspora")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# The bridges keep their tasks per front door.
app.autodiscover_tasks(["bridges.slack", "bridges.whatsapp"])
