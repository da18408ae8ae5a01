"""Heartbeat: beat enqueues ``beat`` every few seconds and a worker records the time in
Redis. ``/health`` reports the age of the last record, which proves both run."""

import time

from celery import shared_task
from django.core.cache import cache

KEY = "celery:heartbeat"


@shared_task(name="tradeflow.heartbeat.beat", ignore_result=True)
def beat() -> float:
    now = time.time()
    cache.set(KEY, now, timeout=None)
    return now


def last_beat_age() -> float | None:
    value = cache.get(KEY)
    return None if value is None else max(0.0, time.time() - float(value))
