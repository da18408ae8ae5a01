"""Celery tasks of the market-data app (thin: they call the store)."""

from datetime import UTC, datetime, timedelta

from celery import shared_task
from django.conf import settings

from apps.marketdata.store import writes


@shared_task(name="marketdata.enforce_tick_retention", ignore_result=True, acks_late=True)
def enforce_tick_retention() -> int:
    """Delete ticks older than TRADEFLOW_TICK_RETENTION_DAYS (bars and footprint rows stay,
    so charts keep their history). Idempotent, hence acks_late."""
    if settings.TICK_RETENTION_DAYS <= 0:
        return 0
    cutoff = datetime.now(UTC) - timedelta(days=settings.TICK_RETENTION_DAYS)
    return writes.delete_ticks_before(cutoff)
