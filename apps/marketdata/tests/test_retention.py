"""Tick retention: the hourly beat task deletes old ticks and keeps bars and footprints."""

from datetime import UTC, datetime, timedelta

import pytest

from apps.marketdata.ingest.ticks import ingest_ticks
from apps.marketdata.services import symbol_upsert
from apps.marketdata.store.db import connection
from apps.marketdata.tasks import enforce_tick_retention
from apps.marketdata.tests.conftest import MD
from apps.marketdata.ticks import TickBatch

pytestmark = pytest.mark.django_db(databases=MD)


def _ticks_at(moments: list[datetime], prefix: str) -> TickBatch:
    return TickBatch.from_columns(
        [int(m.timestamp() * 1e9) for m in moments],
        [100.0] * len(moments),
        [1.0] * len(moments),
        [1] * len(moments),
        [f"{prefix}{i}" for i in range(len(moments))],
    )


def _count(table: str) -> int:
    with connection().cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")  # fixed table names from this test
        return cursor.fetchone()[0]


def test_it_deletes_ticks_older_than_the_retention(settings):
    symbol = symbol_upsert(symbol="RET", exchange="T", asset_type="crypto", tick_size="0.01")[0]
    now = datetime.now(UTC)
    old = [now - timedelta(days=40, minutes=i) for i in range(3)]
    recent = [now - timedelta(days=1, minutes=i) for i in range(2)]
    ingest_ticks(symbol, _ticks_at(old, "o"), publish=False)
    ingest_ticks(symbol, _ticks_at(recent, "r"), publish=False)
    bars_before = _count("md_bars")
    settings.TICK_RETENTION_DAYS = 30
    assert enforce_tick_retention() == 3
    assert _count("md_ticks") == 2
    assert _count("md_bars") == bars_before  # history stays on the charts
    assert enforce_tick_retention() == 0  # idempotent
    settings.TICK_RETENTION_DAYS = 0
    assert enforce_tick_retention() == 0 and _count("md_ticks") == 2  # 0 keeps everything


def test_it_schedules_retention_and_heartbeat_in_code(settings):
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule["marketdata-tick-retention"]["task"] == "marketdata.enforce_tick_retention"
    for entry in schedule.values():
        assert entry["options"]["expires"] < entry["schedule"]
