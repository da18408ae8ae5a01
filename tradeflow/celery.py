"""The Celery app. Configuration comes from ``settings.CELERY_*``; the beat schedule is
``settings.CELERY_BEAT_SCHEDULE`` (in code, UTC), which django-celery-beat's
DatabaseScheduler syncs into the database so operators can see and pause entries.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradeflow.settings")

app = Celery("tradeflow")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["tradeflow"], related_name="heartbeat")
