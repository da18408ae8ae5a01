"""Trades through POST /api/v1/market-data/ticks, checked against real recorded data."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import msgpack
import pytest

from apps.marketdata.store.db import connection
from apps.marketdata.tests.conftest import MD, btc_rows, es_columns, read_csv

pytestmark = pytest.mark.django_db(databases=MD)
TICKS = "/api/v1/market-data/ticks"


def counts(symbol_id: int) -> tuple:
    with connection().cursor() as cursor:
        cursor.execute(
            "SELECT count(*), coalesce(sum(size), 0), coalesce(sum(price * size), 0) "
            "FROM md_ticks WHERE symbol_id = %s",
            [symbol_id],
        )
        ticks = cursor.fetchone()
        cursor.execute(
            "SELECT count(*), coalesce(sum(volume), 0) FROM md_bars WHERE symbol_id = %s",
            [symbol_id],
        )
        bars = cursor.fetchone()
        cursor.execute(
            "SELECT count(*), coalesce(sum(bid_volume + ask_volume), 0) "
            "FROM md_footprint_1m WHERE symbol_id = %s",
            [symbol_id],
        )
        return ticks, bars, cursor.fetchone()


def test_it_builds_databentos_one_minute_bars_from_es_trades(
    api, client, es, es_trades, shared_data, django_user_model
):
    response = api(TICKS, es_columns(es_trades))
    body = response.json()
    assert response.status_code == 200, body
    assert body["ticks_received"] == body["ticks_stored"] == 120
    assert body["sides_inferred"] == sum(r["aggressor_side"] == "N" for r in es_trades)

    client.force_login(
        django_user_model.objects.create_user(email="r@example.com", password="x" * 12)
    )
    got = client.get(
        "/api/v1/market-data/ESU4",
        {
            "timeframe": "1m",
            "limit": 10,
            "start": "2024-07-01T23:58:00Z",
            "end": "2024-07-02T00:02:00Z",
        },
    ).json()
    bars = {b["timestamp"]: b for b in got["bars"]}
    minutes = ("2024-07-01 23:58", "2024-07-01 23:59", "2024-07-02 00:00", "2024-07-02 00:01")
    expected = [
        r
        for r in read_csv(shared_data / "bars" / "cme_es_nq_1m_20240701.csv")
        if r["symbol"] == "ESU4" and r["ts_event"][:16] in minutes
    ]
    assert len(expected) == 4
    for row in expected:
        stamp = datetime.fromisoformat(row["ts_event"]).astimezone(UTC)
        bar = bars[stamp.strftime("%Y-%m-%dT%H:%M:%SZ")]
        for field in ("open", "high", "low", "close", "volume"):
            assert bar[field] == float(row[field]), (stamp, field)

    # buy/sell volume per minute follows the aggressor column (N resolved by the tick rule)
    for stamp, bar in bars.items():
        minute = [r for r in es_trades if r["ts_event"][:16].replace(" ", "T") == stamp[:16]]
        buys = sum(float(r["size"]) for r in minute if r["aggressor_side"] == "B")
        sells = sum(float(r["size"]) for r in minute if r["aggressor_side"] == "A")
        unknown = sum(float(r["size"]) for r in minute if r["aggressor_side"] == "N")
        assert buys <= bar["ask_volume"] <= buys + unknown
        assert sells <= bar["bid_volume"] <= sells + unknown
        assert bar["ask_volume"] + bar["bid_volume"] == bar["volume"]


def test_it_is_idempotent_when_the_binance_file_is_replayed(api, btc, btc_trades):
    rows = btc_rows(btc_trades)
    for start in range(0, len(rows), 2500):
        assert (
            api(TICKS, {"symbol": "BTCUSDT", "ticks": rows[start : start + 2500]}).status_code
            == 200
        )
    first = counts(btc.id)
    assert first[0][0] == len(rows)
    assert first[0][1] == pytest.approx(sum(float(r["qty"]) for r in btc_trades))
    for start in range(0, len(rows), 5000):  # replay, with different batch boundaries
        body = api(TICKS, {"symbol": "BTCUSDT", "ticks": rows[start : start + 5000]}).json()
        assert body["ticks_stored"] == 0 and body["duplicates_skipped"] == body["ticks_received"]
    assert counts(btc.id) == first


def test_it_gives_identical_bars_for_permuted_batches(api, btc, btc_trades):
    rows = btc_rows(btc_trades)[:3000]
    random.Random(7).shuffle(rows)
    batches = [rows[i : i + 700] for i in range(0, len(rows), 700)]

    def stored_bars() -> list[tuple]:
        with connection().cursor() as cursor:
            cursor.execute(
                "SELECT res, ts, open, high, low, close, volume, bid_volume, ask_volume, "
                "trades FROM md_bars WHERE symbol_id = %s ORDER BY res, ts",
                [btc.id],
            )
            return cursor.fetchall()

    for batch in reversed(batches):
        assert api(TICKS, {"symbol": "BTCUSDT", "ticks": batch}).status_code == 200
    shuffled = stored_bars()
    with connection().cursor() as cursor:
        cursor.execute("DELETE FROM md_bars; DELETE FROM md_ticks; DELETE FROM md_footprint_1m")
    ordered = sorted(rows, key=lambda r: (r["ts"], int(r["id"])))
    assert api(TICKS, {"symbol": "BTCUSDT", "ticks": ordered}).status_code == 200
    in_order = stored_bars()
    assert len(in_order) == len(shuffled) > 0
    for a, b in zip(in_order, shuffled, strict=True):
        assert a[:6] == b[:6] and a[9] == b[9]
        assert a[6:9] == pytest.approx(b[6:9], rel=1e-12)


def test_it_accepts_msgpack_columns_and_keeps_the_later_duplicate(
    client, feed_key, btc, redis_client
):
    body = {
        "symbol": "btcusdt",
        "ts": [1_723_161_255_342_000_000] * 2 + [1_723_161_255_400_000_000],
        "price": [100.0, 101.0, 102.0],
        "size": [1, 2, 3],
        "side": ["buy", "sell", None],
        "id": ["a", "a", "b"],
    }
    response = client.post(
        TICKS, msgpack.packb(body), content_type="application/msgpack", HTTP_X_API_KEY=feed_key
    )
    assert response.status_code == 200, response.content
    assert response.json()["ticks_stored"] == 2
    with connection().cursor() as cursor:
        cursor.execute("SELECT trade_id, price, side, inferred FROM md_ticks ORDER BY ts")
        assert cursor.fetchall() == [("a", 101.0, -1, False), ("b", 102.0, 1, True)]


def test_it_replays_the_first_response_for_an_idempotency_key(api, btc):
    row = {"ts": "2024-08-08T23:54:15.342Z", "price": 1.0, "size": 1.0, "id": "x1"}
    first = api(TICKS, {"symbol": "BTCUSDT", "ticks": [row]}, HTTP_IDEMPOTENCY_KEY="k-1")
    again = api(TICKS, {"symbol": "BTCUSDT", "ticks": [row]}, HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.json()["ticks_stored"] == 1
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"


def test_it_builds_the_same_rollups_in_numpy_as_the_sql_rebuild(api, btc, btc_trades):
    """The fast path (numpy) and the reference rebuild from stored trades (SQL) agree."""
    from apps.marketdata.store import sql

    rows = btc_rows(btc_trades)
    for start in range(0, len(rows), 3000):
        assert (
            api(TICKS, {"symbol": "BTCUSDT", "ticks": rows[start : start + 3000]}).status_code
            == 200
        )
    query_bars = (
        "SELECT ts, open, high, low, close, volume, bid_volume, ask_volume, trades, "
        "delta_high, delta_low FROM md_bars WHERE symbol_id = %s AND res = 1 ORDER BY ts"
    )
    query_fp = (
        "SELECT ts, price, bid_volume, ask_volume, trades FROM md_footprint_1m "
        "WHERE symbol_id = %s ORDER BY ts, price"
    )
    with connection().cursor() as cursor:
        cursor.execute(query_bars, [btc.id])
        fast_bars = cursor.fetchall()
        cursor.execute(query_fp, [btc.id])
        fast_fp = cursor.fetchall()
        cursor.execute(sql.CREATE_TOUCHED)
        cursor.execute(
            "DELETE FROM touched; INSERT INTO touched SELECT DISTINCT "
            "date_trunc('second', ts) FROM md_ticks WHERE symbol_id = %s",
            [btc.id],
        )
        cursor.execute("DELETE FROM md_bars; DELETE FROM md_footprint_1m")
        cursor.execute(sql.ROLLUP_TICKS_TO_1S, {"symbol_id": btc.id})
        cursor.execute(sql.ROLLUP_TICKS_TO_FOOTPRINT, {"symbol_id": btc.id})
        cursor.execute(query_bars, [btc.id])
        sql_bars = cursor.fetchall()
        cursor.execute(query_fp, [btc.id])
        sql_fp = cursor.fetchall()
    assert len(fast_bars) == len(sql_bars) > 300 and len(fast_fp) == len(sql_fp) > 300
    for fast, ref in zip(fast_bars + fast_fp, sql_bars + sql_fp, strict=True):
        assert fast[0] == ref[0]
        assert fast[1:] == pytest.approx(ref[1:], rel=1e-9, abs=1e-9)
