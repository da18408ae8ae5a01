"""The one-round-trip write paths (a Sierra Chart single bar, a few live trades): one
implicit transaction, the same bars, rollups and footprint as the batch paths, and all or
nothing when the database fails half-way.

These tests commit for real (``transaction=True``): the fast paths only run outside a
transaction, which the usual per-test transaction would hide.
"""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import DatabaseError, connections

from apps.marketdata.services import symbol_upsert
from apps.marketdata.store import sql, writes
from apps.marketdata.tests.conftest import MD, btc_rows
from apps.marketdata.tests.helpers import other_connection
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


def test_a_single_bar_takes_its_symbols_write_lock(api, db):
    """md_write_bar takes the symbol's lock itself: a bar waits for a writer holding it."""
    lock = symbol_upsert(symbol="LOCK", exchange="T", asset_type="commodities", tick_size="1")[0]
    holder = other_connection()
    holder.execute("BEGIN")
    holder.execute(sql.LOCK_SYMBOL, {"symbol_id": lock.id})
    try:
        with ThreadPoolExecutor(1) as pool:
            # the test client in another thread, with its own database connections
            def post():
                try:
                    return api("/api/v1/market-data/", bar("2025-11-26 21:17:14", 100.0, "LOCK"))
                finally:
                    connections.close_all()

            answer = pool.submit(post)
            time.sleep(0.5)
            assert not answer.done(), "the bar must wait for the lock"
            holder.execute("COMMIT")
            assert answer.result(timeout=30).status_code == 200
    finally:
        holder.close()
    assert [r[0] for r in stored(lock.id)] == [1, 60, 3600]


def test_the_single_bar_write_is_a_prepared_statement(api, db):
    symbol_upsert(symbol="PREP", exchange="T", asset_type="commodities", tick_size="1")
    for second in range(10):
        item = bar(f"2025-11-26 21:17:{second:02d}", 100.0, "PREP")
        assert api("/api/v1/market-data/", item).status_code == 200
    with connections["marketdata"].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            ["%md_write_bar(%"],
        )
        assert cursor.fetchone()[0] == 1


def test_a_single_bar_prepares_its_statement_again_when_it_is_gone(api, db):
    """psycopg deallocates every prepared statement after a rollback on the connection."""
    gone = symbol_upsert(symbol="GONE", exchange="T", asset_type="commodities", tick_size="1")[0]
    assert api("/api/v1/market-data/", bar("2025-11-26 21:17:14", 100.0, "GONE")).status_code == 200
    with connections["marketdata"].cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    assert api("/api/v1/market-data/", bar("2025-11-26 21:17:15", 101.0, "GONE")).status_code == 200
    assert [r[5] for r in stored(gone.id) if r[0] == 1] == [100.5, 101.5]  # the closes


def test_a_single_bar_is_not_prepared_when_prepared_statements_are_off(api, db):
    """TRADEFLOW_MARKETDATA_PREPARE_THRESHOLD=0 (a pooler without prepared statements)."""
    symbol_upsert(symbol="UNPREP", exchange="T", asset_type="commodities", tick_size="1")
    options = connections["marketdata"].settings_dict["OPTIONS"]
    threshold = options["prepare_threshold"]
    connections["marketdata"].close()  # a new connection, with the option off
    options["prepare_threshold"] = None
    try:
        for second in range(8):
            item = bar(f"2025-11-26 21:17:{second:02d}", 100.0, "UNPREP")
            assert api("/api/v1/market-data/", item).status_code == 200
        with connections["marketdata"].cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_prepared_statements")
            assert cursor.fetchone()[0] == 0
    finally:
        options["prepare_threshold"] = threshold
        connections["marketdata"].close()


def footprint(symbol_id: int) -> list[tuple]:
    with connections["marketdata"].cursor() as cursor:
        cursor.execute(
            "SELECT ts, price, bid_volume, ask_volume, trades FROM md_footprint_1m "
            "WHERE symbol_id = %s ORDER BY ts, price",
            [symbol_id],
        )
        return cursor.fetchall()


def test_a_few_trades_at_a_time_store_what_one_big_batch_stores(api, btc_trades, db):
    """Real Binance trades: the COPY path in one batch, against the few-trades path fed
    shuffled small batches, with re-sent (duplicate) trades, over several minutes."""
    rows = btc_rows(btc_trades)[:1500]
    assert len(rows) > writes.FEW_TICKS
    kw = {"exchange": "BINANCE", "asset_type": "crypto", "tick_size": "0.01"}
    big = symbol_upsert(symbol="BIG", **kw)[0]
    few = symbol_upsert(symbol="FEW", **kw)[0]
    body = api("/api/v1/market-data/ticks", {"symbol": "BIG", "ticks": rows}).json()
    assert body["ticks_stored"] == len(rows)

    shuffled = rows[:]
    random.Random(11).shuffle(shuffled)
    batches = [shuffled[i : i + 37] for i in range(0, len(shuffled), 37)]
    new = 0
    for i, batch in enumerate(batches):
        body = api("/api/v1/market-data/ticks", {"symbol": "FEW", "ticks": batch}).json()
        new += body["ticks_stored"]
        if i % 5 == 0:  # a feed re-sending what it already sent
            again = api("/api/v1/market-data/ticks", {"symbol": "FEW", "ticks": batch}).json()
            assert again["ticks_stored"] == 0 and again["duplicates_skipped"] == len(batch)
    assert new == len(rows)

    bars_big, bars_few = stored(big.id), stored(few.id)
    assert len(bars_big) == len(bars_few) > 0
    for a, b in zip(bars_big, bars_few, strict=True):
        assert a[:6] == b[:6] and a[9] == b[9]  # res, ts, OHLC, trades
        assert a[6:9] == pytest.approx(b[6:9], rel=1e-12)  # volumes (float sums)
        assert a[10:] == pytest.approx(b[10:], rel=1e-12, abs=1e-9)  # delta extremes
    fp_big, fp_few = footprint(big.id), footprint(few.id)
    assert [r[:2] for r in fp_big] == [r[:2] for r in fp_few]
    flat = [value for row in fp_few for value in row[2:]]
    assert [value for row in fp_big for value in row[2:]] == pytest.approx(flat, rel=1e-12)
    assert series(few.id) == series(big.id) == [1, 60, 3600]


def btc_second_bars(trades: list[dict]) -> list[dict]:
    """The recorded Binance trades as Sierra Chart 1-second bars (fractional volumes)."""
    seconds: dict[int, list[dict]] = {}
    for trade in btc_rows(trades):
        seconds.setdefault(trade["ts"] // 10**9, []).append(trade)
    out = []
    for second, group in sorted(seconds.items()):
        prices = [t["price"] for t in group]
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(second))
        item = bar(stamp, prices[0], symbol="BTCBARS")
        item |= {
            "high": max(prices),
            "low": min(prices),
            "close": prices[-1],
            "volume": sum(t["size"] for t in group),
            "bid_volume": sum(t["size"] for t in group if t["side"] == "sell"),
            "ask_volume": sum(t["size"] for t in group if t["side"] == "buy"),
            "number_of_trades": len(group),
        }
        out.append(item)
    return out


def test_merged_rollups_equal_rollups_rebuilt_from_their_seconds(api, db, btc_trades):
    """md_write_bar merges a bar that ends its buckets into the minute and hour rows and
    rebuilds them otherwise (a bar sent again, one sent late). Sent mostly in order, with
    re-sends and late bars mixed in, the rows must be what rebuilding every minute from
    its seconds, then every hour from its minutes, gives."""
    btc = symbol_upsert(symbol="BTCBARS", exchange="T", asset_type="crypto", tick_size="0.01")[0]
    bars = btc_second_bars(btc_trades)
    assert len(bars) > 300  # six minutes of trading, across an hour's end
    rng = random.Random(7)
    order = list(bars)
    for i in range(0, len(order) - 8, 40):  # a few bars arrive late
        order[i : i + 8] = reversed(order[i : i + 8])
    sent = []
    for item in order:
        sent.append(item)
        if rng.random() < 0.1:  # the forming bar, sent again with more volume
            sent.append(item | {"volume": item["volume"] * 1.5, "high": item["high"] + 1})
            sent.append(item)
    for item in sent:
        assert api("/api/v1/market-data/", item).status_code == 200
    merged = stored(btc.id)

    with connections["marketdata"].cursor() as cursor:
        for src, dst in ((1, 60), (60, 3600)):
            cursor.execute(
                "SELECT md_rollup_bars(%s, %s, %s, ts) FROM md_bars "
                "WHERE symbol_id = %s AND res = %s",
                [btc.id, src, dst, btc.id, dst],
            )
    rebuilt = stored(btc.id)
    assert [r[:2] for r in merged] == [r[:2] for r in rebuilt]
    assert [r[0] for r in merged].count(60) == 7 and [r[0] for r in merged].count(3600) == 2
    for got, want in zip(merged, rebuilt, strict=True):
        assert got[2:] == pytest.approx(want[2:], rel=1e-12, abs=1e-9), got[:2]
