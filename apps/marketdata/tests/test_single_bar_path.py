"""The Sierra Chart single-bar fast path: one implicit transaction, the same bars and
rollups as a batch, and all or nothing when the database fails half-way.

These tests commit for real (``transaction=True``): the fast path only runs outside a
transaction, which the usual per-test transaction would hide.
"""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connections

from apps.marketdata.services import symbol_upsert
from apps.marketdata.tests.conftest import MD
from apps.marketdata.tests.test_sierra_and_queries import bar

pytestmark = pytest.mark.django_db(databases=MD, transaction=True)

COLUMNS = "res, ts, open, high, low, close, volume, bid_volume, ask_volume, trades, "
COLUMNS += "delta_high, delta_low"


def stored(symbol_id: int) -> list[tuple]:
    with connections["marketdata"].cursor() as cursor:
        cursor.execute(
            f"SELECT {COLUMNS} FROM md_bars WHERE symbol_id = %s ORDER BY res, ts", [symbol_id]
        )
        return cursor.fetchall()


def series(symbol_id: int) -> list[int]:
    with connections["marketdata"].cursor() as cursor:
        cursor.execute("SELECT res FROM md_series WHERE symbol_id = %s ORDER BY res", [symbol_id])
        return [row[0] for row in cursor.fetchall()]


def sierra_bars(code: str) -> list[dict]:
    """Bars over two minutes with uneven bid/ask, so delta extremes matter."""
    out = []
    for i, second in enumerate(range(0, 120, 7)):
        minute, sec = divmod(second, 60)
        item = bar(f"2025-11-26 21:{17 + minute:02d}:{sec:02d}", 100.0 + i, symbol=code)
        item |= {"volume": 20 + i, "bid_volume": (i * 3) % 10, "ask_volume": (i * 5) % 10}
        out.append(item)
    return out


def test_single_bars_store_what_a_batch_stores(api, db):
    one = symbol_upsert(symbol="ONE", exchange="T", asset_type="commodities", tick_size="0.01")[0]
    many = symbol_upsert(symbol="MANY", exchange="T", asset_type="commodities", tick_size="1")[0]
    for item in sierra_bars("ONE"):
        assert api("/api/v1/market-data/", item).status_code == 200
    body = {"data": sierra_bars("MANY"), "metadata": {}}
    assert api("/api/v1/market-data/batch", body).status_code == 200

    singles, batch = stored(one.id), stored(many.id)
    assert singles == batch
    assert [r[0] for r in singles].count(60) == 2 and [r[0] for r in singles].count(3600) == 1
    assert series(one.id) == series(many.id) == [1, 60, 3600]
    minute = next(r for r in singles if r[0] == 60)
    seconds = [r for r in singles if r[0] == 1 and r[1] < minute[1].replace(minute=18)]
    # delta extremes of the minute: the running delta over its seconds
    running, high, low = 0.0, 0.0, 0.0
    for row in seconds:
        high, low = max(high, running + row[10]), min(low, running + row[11])
        running += row[8] - row[7]
    assert (minute[10], minute[11]) == (high, low)
    assert minute[6] == sum(r[6] for r in seconds)


def test_a_single_bar_that_fails_half_way_leaves_nothing(api, db):
    gold = symbol_upsert(symbol="GOLD", exchange="T", asset_type="commodities", tick_size="1")[0]
    with connections["marketdata"].cursor() as cursor:
        # a real failure after the bar itself was upserted: registering its 1-hour series
        cursor.execute(
            """
            CREATE FUNCTION tf_test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'refused by test'; END $$;
            CREATE TRIGGER tf_test_refuse BEFORE INSERT ON md_series FOR EACH ROW
                WHEN (NEW.res = 3600) EXECUTE FUNCTION tf_test_refuse();
            """
        )
    try:
        # not a store outage (the connection is fine): a 500, raised by the test client
        with pytest.raises(DatabaseError, match="refused by test"):
            api("/api/v1/market-data/", bar("2025-11-26 21:17:14", 100.0, "GOLD"))
        assert stored(gold.id) == []
        assert series(gold.id) == []
    finally:
        with connections["marketdata"].cursor() as cursor:
            cursor.execute(
                "DROP TRIGGER tf_test_refuse ON md_series; DROP FUNCTION tf_test_refuse()"
            )
    assert api("/api/v1/market-data/", bar("2025-11-26 21:17:14", 100.0, "GOLD")).status_code == 200
    assert [r[0] for r in stored(gold.id)] == [1, 60, 3600]
