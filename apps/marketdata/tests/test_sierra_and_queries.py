"""Sierra Chart bars in, bars at every timeframe out, and who may read them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apps.accounts.services import feedkey_create
from apps.accounts.tests.factories import UserFactory
from apps.marketdata.services import symbol_upsert
from apps.marketdata.tests.conftest import MD

pytestmark = pytest.mark.django_db(databases=MD)


def bar(ts: str, price: float, symbol="XAUUSD", res=1, volume=10.0, **extra) -> dict:
    return {
        "timestamp": ts,
        "open": price,
        "high": price + 1,
        "low": price - 1,
        "close": price + 0.5,
        "volume": volume,
        "bid_volume": 4,
        "ask_volume": 6,
        "number_of_trades": 3,
        "open_interest": None,
        "chart_info": {"symbol": symbol, "chart_number": 1, "seconds_per_bar": res},
        **extra,
    }


@pytest.fixture
def gold(db):
    return symbol_upsert(
        symbol="XAUUSD", exchange="FX", asset_type="commodities", tick_size="0.01"
    )[0]


def get_bars(client, symbol, **params):
    response = client.get(f"/api/v1/market-data/{symbol}", params)
    assert response.status_code == 200, response.content
    return response.json()["bars"]


def test_it_stores_a_sierra_bar_in_the_feed_time_zone(client, gold, reader, redis_client):
    _, key = feedkey_create(name="sierra", timezone="America/New_York")
    response = client.post(
        "/api/v1/market-data/",
        bar("2025-11-26 16:17:14", 4162.88),
        content_type="application/json",
        HTTP_X_API_KEY=key,
    )
    assert response.json() == {"status": "success", "symbol": "XAUUSD", "timeframe": "1s"}
    bars = get_bars(reader, "XAUUSD", timeframe="1s")
    assert bars[0]["timestamp"] == "2025-11-26T21:17:14Z"  # 16:17 New York = 21:17 UTC
    assert (bars[0]["bid_volume"], bars[0]["ask_volume"], bars[0]["number_of_trades"]) == (4, 6, 3)


def test_it_upserts_resent_bars_and_rolls_them_up(api, gold, reader):
    bars = [bar(f"2025-11-26 21:17:{s:02d}", 100.0 + s) for s in range(0, 60, 5)]
    bars.append(bar("2025-11-26 21:18:00+00:00", 200.0))  # ISO with offset
    body = api("/api/v1/market-data/batch", {"data": bars, "metadata": {}}).json()
    assert body == {
        "status": "success",
        "bars_received": 13,
        "bars_stored": 13,
        "symbol": "XAUUSD",
        "timeframe": "1s",
    }
    resent = bar("2025-11-26 21:17:55", 500.0, volume=99)  # last write wins
    assert api("/api/v1/market-data/", resent).status_code == 200
    minute = get_bars(reader, "XAUUSD", timeframe="1m")
    assert [b["timestamp"] for b in minute] == ["2025-11-26T21:17:00Z", "2025-11-26T21:18:00Z"]
    first = minute[0]
    assert first["open"] == 100.0 and first["close"] == 500.5 and first["high"] == 501.0
    assert first["volume"] == 11 * 10 + 99
    assert get_bars(reader, "XAUUSD", timeframe="1h")[0]["volume"] == 11 * 10 + 99 + 10
    five = get_bars(reader, "XAUUSD", timeframe="5s")  # served from the 1s bars
    assert len(five) == 13


def test_it_serves_a_cme_daily_bar_from_the_1700_chicago_session(api, reader):
    symbol_upsert(
        symbol="ES",
        exchange="CME",
        asset_type="futures",
        tick_size="0.25",
        timezone="America/Chicago",
        session="17:00-16:00",
    )
    # Monday 2024-07-01 16:59 CDT belongs to Monday's session; 17:00 starts Tuesday's.
    ticks = [
        ("2024-07-01T21:59:00Z", 5500.0),
        ("2024-07-01T22:00:00Z", 5510.0),
        ("2024-07-02T15:00:00Z", 5520.0),
        ("2024-07-02T21:30:00Z", 5530.0),
    ]
    body = {
        "symbol": "ES",
        "ticks": [
            {"ts": t, "price": p, "size": 1, "side": "buy", "id": str(i)}
            for i, (t, p) in enumerate(ticks)
        ],
    }
    assert api("/api/v1/market-data/ticks", body).status_code == 200
    days = get_bars(reader, "ES", timeframe="1d")
    assert [d["timestamp"] for d in days] == ["2024-06-30T22:00:00Z", "2024-07-01T22:00:00Z"]
    assert (days[1]["open"], days[1]["close"], days[1]["volume"]) == (5510.0, 5530.0, 3)
    week = get_bars(reader, "ES", timeframe="1w")
    assert week[0]["timestamp"] == "2024-06-30T22:00:00Z"  # Sunday 17:00 CDT
    assert week[0]["volume"] == 4


def test_it_returns_the_newest_bars_oldest_first_and_pages_back(api, gold, reader):
    start = datetime(2025, 1, 6, tzinfo=UTC)
    bars = [bar((start + timedelta(minutes=m)).isoformat(), 100.0 + m, res=60) for m in range(30)]
    assert api("/api/v1/market-data/batch", {"data": bars, "metadata": {}}).status_code == 200
    newest = get_bars(reader, "XAUUSD", timeframe="5m", limit=3)
    assert [b["time"] for b in newest] == [
        int((start + timedelta(minutes=m)).timestamp()) for m in (15, 20, 25)
    ]
    older = get_bars(reader, "XAUUSD", timeframe="5m", limit=3, end=newest[0]["time"])
    assert [b["time"] for b in older] == [
        int((start + timedelta(minutes=m)).timestamp()) for m in (0, 5, 10)
    ]
    assert older[0]["open"] == 100.0 and older[0]["close"] == 104.5
    assert get_bars(reader, "XAUUSD", timeframe="1s") == []  # nothing finer than 1m stored


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"timeframe": "7m"}, "invalid_timeframe"),
        ({"limit": "0"}, "invalid_parameter"),
        ({"limit": "abc"}, "invalid_parameter"),
        ({"start": "yesterday"}, "invalid_parameter"),
        ({"start": "2025-01-02", "end": "2025-01-01"}, "invalid_parameter"),
    ],
)
def test_it_rejects_bad_query_parameters(gold, reader, params, code):
    response = reader.get("/api/v1/market-data/XAUUSD", params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


def test_it_hides_private_symbols_and_requires_login(client, gold, settings):
    private = symbol_upsert(
        symbol="SECRET", exchange="X", asset_type="stocks", tick_size="0.01", is_public=False
    )[0]
    assert client.get("/api/v1/market-data/XAUUSD").status_code in (401, 403)
    settings.ALLOW_ANONYMOUS_MARKET_DATA = True
    assert client.get("/api/v1/market-data/XAUUSD").status_code == 200
    assert client.get(f"/api/v1/market-data/{private.symbol}").status_code == 404
    client.force_login(UserFactory())
    assert client.get(f"/api/v1/market-data/{private.symbol}").status_code == 404
    assert client.get("/api/v1/market-data/NOPE").status_code == 404
    client.force_login(UserFactory(is_staff=True))
    assert client.get(f"/api/v1/market-data/{private.symbol}").status_code == 200


def test_it_reads_bars_with_a_jwt(client, gold):
    UserFactory(email="m@example.com")
    tokens = client.post(
        "/api/v1/auth/token/",
        {"email": "m@example.com", "password": "correct-horse-battery-9"},
        content_type="application/json",
    ).json()
    response = client.get(
        "/api/v1/market-data/XAUUSD", HTTP_AUTHORIZATION=f"Bearer {tokens['access']}"
    )
    assert response.status_code == 200 and response.json()["bars"] == []


def test_it_searches_symbols(reader, gold):
    symbol_upsert(
        symbol="SECRET", exchange="X", asset_type="stocks", tick_size="0.01", is_public=False
    )
    found = reader.get("/api/v1/symbols/", {"search": "xau"}).json()
    assert [s["symbol"] for s in found] == ["XAUUSD"]
    assert found[0]["tick_size"] == 0.01 and found[0]["precision"] == 2
    assert reader.get("/api/v1/symbols/", {"search": "secret"}).json() == []


def test_it_serves_imported_daily_bars_as_1d_and_1w(reader, db):
    import numpy as np

    from apps.marketdata.ingest.bars import ingest_bar_columns

    goog = symbol_upsert(
        symbol="GOOG",
        exchange="NASDAQ",
        asset_type="stocks",
        tick_size="0.01",
        timezone="America/New_York",
        session="09:30-16:00",
    )[0]
    days = np.array(["2024-07-01", "2024-07-02", "2024-07-03", "2024-07-08"], dtype="datetime64[D]")
    closes = np.array([10.0, 11.0, 12.0, 13.0])
    ingest_bar_columns(
        goog,
        86_400,
        {
            "ts_ns": days.astype("datetime64[ns]").astype(np.int64),
            "open": closes - 0.5,
            "high": closes + 1,
            "low": closes - 1,
            "close": closes,
            "volume": np.full(4, 100.0),
            "bid_volume": np.zeros(4),
            "ask_volume": np.zeros(4),
            "trades": np.zeros(4, np.int64),
        },
    )
    daily = get_bars(reader, "GOOG", timeframe="1d")
    assert [b["timestamp"][:10] for b in daily] == [
        "2024-07-01",
        "2024-07-02",
        "2024-07-03",
        "2024-07-08",
    ]
    weekly = get_bars(reader, "GOOG", timeframe="1w")
    assert [(b["timestamp"][:10], b["open"], b["close"], b["volume"]) for b in weekly] == [
        ("2024-07-01", 9.5, 12.0, 300.0),
        ("2024-07-08", 12.5, 13.0, 100.0),
    ]
