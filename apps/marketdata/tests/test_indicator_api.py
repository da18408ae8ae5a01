"""Indicator REST API over the real store: TA-Lib regression, warm-up, specs, batch, cache,
subscriptions, and who may read what."""

from __future__ import annotations

import csv
from datetime import UTC, datetime

import numpy as np
import pytest

from apps.accounts.tests.factories import UserFactory
from apps.marketdata.analytics.indicators import compute, compute_many, warmup_bars
from apps.marketdata.analytics.indicators.tests.refdata import msft_daily_bars
from apps.marketdata.indicators import service
from apps.marketdata.ingest.bars import ingest_bar_columns
from apps.marketdata.services import symbol_upsert
from apps.marketdata.tests.conftest import MD
from apps.marketdata.timeframes import parse as parse_tf

pytestmark = pytest.mark.django_db(databases=MD)

HISTORY = "/api/v1/indicators/history"


def make_symbol(code: str, **kwargs):
    fields = {"exchange": "T", "asset_type": "stocks", "tick_size": "0.001"} | kwargs
    return symbol_upsert(symbol=code, **fields)[0]


def store_bars(symbol, bars: dict, res: int, times: np.ndarray | None = None) -> None:
    """Bars as the importers write them (``ingest_bar_columns``)."""
    n = len(bars["close"])
    times = bars["time"] if times is None else times
    ingest_bar_columns(
        symbol,
        res,
        {
            "ts_ns": np.asarray(times, dtype=np.int64) * 10**9,
            **{k: np.asarray(bars[k], dtype=np.float64) for k in ("open", "high", "low", "close")},
            "volume": np.asarray(bars["volume"], dtype=np.float64),
            "bid_volume": np.zeros(n),
            "ask_volume": np.zeros(n),
            "trades": np.ones(n, dtype=np.int64),
        },
    )


def minute_bars(n: int, start: int, seed: int = 7) -> dict:
    """A random walk of ``n`` one-minute bars from epoch ``start`` (a multiple of 3600)."""
    rng = np.random.default_rng(seed)
    close = 100 + np.cumsum(rng.normal(0, 0.5, n))
    open_ = np.concatenate(([100.0], close[:-1]))
    spread = rng.uniform(0.05, 0.6, n)
    return {
        "time": start + np.arange(n, dtype=np.int64) * 60,
        "open": open_,
        "high": np.maximum(open_, close) + spread,
        "low": np.minimum(open_, close) - spread,
        "close": close,
        "volume": rng.integers(1, 500, n).astype(np.float64),
    }


def get_ok(client, path: str, **params) -> dict:
    response = client.get(path, params)
    assert response.status_code == 200, response.content
    return response.json()


# --- TA-Lib regression through HTTP ------------------------------------------------------------


@pytest.fixture
def regtest(api, shared_data):
    """TA-Lib's 252-bar regression input, posted by "Sierra Chart" as daily bars."""
    make_symbol("TALIB")
    rows = list(csv.DictReader((shared_data / "indicators" / "talib_regtest_252bars.csv").open()))
    start = int(datetime(2020, 1, 1, tzinfo=UTC).timestamp())
    bars = [
        {
            "timestamp": datetime.fromtimestamp(start + int(r["bar"]) * 86400, UTC).strftime(
                "%Y-%m-%d %H:%M:%S"
            ),
            **{k: float(r[k]) for k in ("open", "high", "low", "close", "volume")},
            "bid_volume": 0,
            "ask_volume": 0,
            "number_of_trades": 1,
            "open_interest": None,
            "chart_info": {"symbol": "TALIB", "chart_number": 1, "seconds_per_bar": 86400},
        }
        for r in rows
    ]
    response = api("/api/v1/market-data/batch", {"data": bars, "metadata": {}})
    assert response.json()["bars_stored"] == 252
    return start


def test_it_matches_the_talib_regression_tables_through_the_api(regtest, reader, shared_data):
    rows = list(
        csv.DictReader((shared_data / "indicators" / "expected_values_verified.csv").open())
    )
    assert len(rows) >= 10
    for row in rows:
        params = dict(kv.split("=") for kv in row["params"].split(";") if kv)
        body = get_ok(
            reader,
            HISTORY,
            symbol="TALIB",
            timeframe="1d",
            indicator=f'{{"name": "{row["indicator"]}", "params": {{"timeperiod": '
            f"{params['timeperiod']}}}}}",
            lookback=252,
        )
        series = body["series"]
        assert len(series) == 252
        index = int(row["bar_index"])
        point = series[index]
        assert point["time"] == regtest + index * 86400
        assert point["candles_back"] == 251 - index
        # the C tables print truncated decimals: 90.42 stands for [90.42, 90.43)
        expected = float(row["expected"])
        decimals = len(row["expected"].split(".")[1]) if "." in row["expected"] else 0
        assert expected <= point["value"] < expected + 10.0**-decimals, (row, point)
        if "first output" in row["note"]:
            assert series[index - 1]["value"] is None


# --- warm-up -------------------------------------------------------------------------------


@pytest.fixture
def msft():
    """MSFT daily 1986-2017 (7,983 bars) in the store."""
    symbol = make_symbol("MSFT")
    bars = msft_daily_bars()
    store_bars(symbol, bars, 86400)
    return symbol, bars


@pytest.mark.parametrize("spec", ["EMA_20", "RSI_14", "MACD_12_26_9"])
def test_it_returns_the_tail_of_a_full_history_computation(msft, reader, spec):
    _, bars = msft
    lookback = 20
    # the server reads far less than the whole history, so warm-up is what makes it exact
    assert service.fetch_size(service.resolve_item(spec, None), lookback, parse_tf("1d")) < (
        len(bars["close"]) // 10
    )
    body = get_ok(reader, HISTORY, symbol="MSFT", timeframe="1d", indicator=spec, lookback=20)
    full = compute(spec, bars)
    names = list(full.outputs)
    assert body["outputs"] == names and body["indicator"] == spec
    assert [p["time"] for p in body["series"]] == bars["time"][-lookback:].tolist()
    for name in names:
        expected = full.outputs[name][-lookback:]
        got = np.array([p[name if len(names) > 1 else "value"] for p in body["series"]])
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=0, err_msg=name)
    # and the same spec without enough warm-up would have been measurably off
    short = compute(spec, {k: v[-(lookback + 30) :] for k, v in bars.items()})
    first = names[0]
    assert np.nanmax(np.abs(short.outputs[first][-lookback:] - full.outputs[first][-lookback:])) > (
        1e-6
    )
    assert warmup_bars(spec) > 30


def test_it_gives_at_offset_values_and_says_what_the_offset_means(msft, reader):
    _, bars = msft
    history = get_ok(
        reader, HISTORY, symbol="MSFT", timeframe="1d", indicator="RSI_14", lookback=11
    )
    body = get_ok(
        reader,
        "/api/v1/indicators/at-offset",
        symbol="MSFT",
        timeframe="1d",
        indicators="RSI_14,MACD_12_26_9",
        offset=10,
    )
    point = history["series"][0]
    assert point["candles_back"] == 10
    assert body["values"]["RSI_14"]["value"] == pytest.approx(point["value"], rel=1e-12)
    assert set(body["values"]["MACD_12_26_9"]) == {"value", "macd", "signal", "histogram"}
    assert body["time"] == int(bars["time"][-11])
    elapsed_days = (int(bars["time"][-1]) - int(bars["time"][-11])) // 86400
    # ten trading days back spans a weekend or two: the description uses real elapsed time
    assert body["offset_description"] == (
        f"10 candles back (opened {elapsed_days} days before the current 1d candle)"
    )
    current = get_ok(
        reader, "/api/v1/indicators/current", symbol="MSFT", timeframe="1d", indicators="RSI_14"
    )
    assert current["time"] == int(bars["time"][-1])
    assert current["values"]["RSI_14"]["value"] == pytest.approx(
        compute("RSI_14", bars).value[-1], rel=1e-9
    )


# --- bad specs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("indicator", "needle"),
    [
        ("FOO_14", "Unknown indicator 'FOO'"),
        ("RSIX_14", "did you mean"),
        ("SMA_20_5_7", "takes at most"),  # wrong arity
        ("RSI_1", "out of range"),
        ("RSI_100000", "out of range"),
        ("RSI_abc", "must be numbers"),
        ('{"name": "RSI", "params": {"period": "fourteen"}}', "must be a number"),
        ('{"name": "RSI", "params": {"speed": 3}}', "parameters: period"),
        ("RSI_14.nope", "has no output"),
        ("EMA_9(RSI_14", "expected ',' or ')'"),
        ("close", "is a price field"),
    ],
)
def test_it_rejects_bad_specs_with_400_invalid_indicator(reader, indicator, needle):
    make_symbol("BAD")
    response = reader.get(HISTORY, {"symbol": "BAD", "timeframe": "1m", "indicator": indicator})
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "INVALID_INDICATOR"
    assert needle in error["message"]


def test_it_says_what_is_allowed_and_rejects_bad_parameters(reader):
    make_symbol("BAD")
    error = reader.get(HISTORY, {"symbol": "BAD", "indicator": "RSI_1"}).json()["error"]
    assert "integer from 2 to 5000" in error["message"]
    assert error["catalog"] == "/api/v1/indicators/catalog"
    for lookback in ("0", "20001", "x"):
        response = reader.get(
            HISTORY, {"symbol": "BAD", "indicator": "RSI_14", "lookback": lookback}
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_parameter"
    response = reader.get(HISTORY, {"symbol": "BAD", "timeframe": "7m", "indicator": "RSI_14"})
    assert response.json()["error"]["code"] == "invalid_timeframe"
    response = reader.post(
        "/api/v1/indicators/batch",
        {"symbol": "BAD", "queries": [{"timeframe": "1m", "indicator": "RSI_0"}]},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_INDICATOR"
    assert response.json()["error"]["message"].startswith("queries[0]: ")


# --- batch, multi-timeframe ----------------------------------------------------------------------


def test_it_answers_a_multi_timeframe_batch(reader):
    symbol = make_symbol("MTF", asset_type="crypto")
    start = 1_700_000_000 // 3600 * 3600
    bars = minute_bars(900, start)
    store_bars(symbol, bars, 60)
    body = reader.post(
        "/api/v1/indicators/batch",
        {
            "symbol": "mtf",
            "queries": [
                {"timeframe": "1m", "indicator": "RSI_14", "lookback": 10},
                {"timeframe": "5min", "indicator": "RSI_14", "lookback": 20},
                {"timeframe": "1h", "indicator": "SMA_3", "lookback": 5},
                {"timeframe": "5", "indicator": {"name": "MACD", "params": [12, 26, 9]}},
                {"timeframe": "1m", "indicator": "CDLDOJI", "lookback": 300},
            ],
        },
        content_type="application/json",
    )
    assert body.status_code == 200, body.content
    results = body.json()["results"]
    assert [(r["timeframe"], r["indicator"], len(r["series"])) for r in results] == [
        ("1m", "RSI_14", 10),
        ("5m", "RSI_14", 20),
        ("1h", "SMA_3", 5),
        ("5m", "MACD_12_26_9", 100),
        ("1m", "CDLDOJI", 300),
    ]
    for result in results:
        tf = parse_tf(result["timeframe"])
        full = get_ok(reader, "/api/v1/market-data/MTF", timeframe=tf.name, limit=20000)["bars"]
        ohlcv = {k: np.array([b[k] for b in full], dtype=np.float64) for k in service._FIELDS}
        ohlcv["time"] = np.array([b["time"] for b in full], dtype=np.int64)
        expected = compute_many([result["indicator"]], ohlcv)[result["indicator"]]
        lookback = len(result["series"])
        assert [p["time"] for p in result["series"]] == ohlcv["time"][-lookback:].tolist()
        assert all(p["time"] % tf.seconds == 0 for p in result["series"])
        got = np.array([p["value"] for p in result["series"]], dtype=np.float64)
        np.testing.assert_allclose(got, expected.value[-lookback:], rtol=1e-9)
    assert results[3]["outputs"] == ["macd", "signal", "histogram"]
    assert results[4]["kind"] == "pattern"
    doji = results[4]["markers"]
    assert doji and all(m["value"] in (100, -100) for m in doji)
    assert all(0 <= m["candles_back"] < 300 for m in doji)


# --- cache -------------------------------------------------------------------------------------


def test_it_serves_repeats_from_the_cache_and_invalidates_on_a_new_tick(reader, redis_client):
    from apps.marketdata.ingest.ticks import ingest_ticks
    from apps.marketdata.ticks import TickBatch

    symbol = make_symbol("CACHE", asset_type="crypto")
    start = 1_700_000_000 // 3600 * 3600
    store_bars(symbol, minute_bars(400, start), 60)
    params = {"symbol": "CACHE", "timeframe": "1m", "indicator": "EMA_20", "lookback": 50}
    first = get_ok(reader, HISTORY, **params)
    second = get_ok(reader, HISTORY, **params)
    assert (first["cached"], second["cached"]) == (False, True)
    assert second["series"] == first["series"]
    assert service.cache_stats() == {"hits": 1, "misses": 1}

    # a trade inside the current (last) minute changes its close: a new cache key
    last_minute = start + 399 * 60
    ingest_ticks(
        symbol,
        TickBatch.from_columns([(last_minute + 30) * 10**9], [250.0], [3.0], [1], ["t1"]),
        publish=False,
    )
    third = get_ok(reader, HISTORY, **params)
    assert third["cached"] is False
    assert third["series"][-1]["time"] == last_minute
    assert third["series"][-1]["value"] != first["series"][-1]["value"]
    assert third["series"][:-1] == first["series"][:-1]
    # a new bar moves the whole window on
    ingest_ticks(
        symbol,
        TickBatch.from_columns([(last_minute + 65) * 10**9], [250.5], [1.0], [1], ["t2"]),
        publish=False,
    )
    fourth = get_ok(reader, HISTORY, **params)
    assert fourth["cached"] is False and fourth["series"][-1]["time"] == last_minute + 60
    assert get_ok(reader, HISTORY, **params)["cached"] is True
    assert service.cache_stats() == {"hits": 2, "misses": 3}


# --- catalog, visibility, auth -------------------------------------------------------------------


def test_it_lists_the_catalog_for_the_add_indicator_dialog(reader):
    body = get_ok(reader, "/api/v1/indicators/catalog")
    assert body["count"] >= 100
    macd = next(d for d in body["indicators"] if d["name"] == "MACD")
    assert macd["outputs"] == ["macd", "signal", "histogram"] and macd["overlay"] is False
    assert [p["name"] for p in macd["params"]][:3] == ["fast", "slow", "signal"]
    found = get_ok(reader, "/api/v1/indicators/catalog", search="supertrend")["indicators"]
    assert [d["name"] for d in found] == ["SUPERTREND"]


def test_it_hides_private_symbols_and_refuses_anonymous_callers(client, reader, settings):
    make_symbol("SECRET", is_public=False)
    for path, params in [
        (HISTORY, {"indicator": "RSI_14"}),
        ("/api/v1/indicators/current", {"indicators": "RSI_14"}),
        ("/api/v1/indicators/at-offset", {"indicators": "RSI_14", "offset": 1}),
    ]:
        response = reader.get(path, {"symbol": "SECRET", **params})
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"
    response = reader.post(
        "/api/v1/indicators/batch",
        {"symbol": "SECRET", "queries": [{"timeframe": "1m", "indicator": "RSI_14"}]},
        content_type="application/json",
    )
    assert response.status_code == 404
    staff = UserFactory(is_staff=True)
    client.force_login(staff)
    assert client.get(HISTORY, {"symbol": "SECRET", "indicator": "RSI_14"}).status_code == 200
    client.logout()
    assert client.get(HISTORY, {"symbol": "SECRET", "indicator": "RSI_14"}).status_code in (
        401,
        403,
    )


def test_it_answers_empty_series_when_nothing_is_stored(reader):
    make_symbol("EMPTY")
    body = get_ok(reader, HISTORY, symbol="EMPTY", indicator="MACD_12_26_9", lookback=5)
    assert body["series"] == [] and body["outputs"] == ["macd", "signal", "histogram"]


# --- REST subscriptions --------------------------------------------------------------------------


def test_it_counts_rest_subscriptions_across_clients(client, redis_client):
    symbol = make_symbol("SUBS", asset_type="crypto")
    store_bars(symbol, minute_bars(100, 1_700_000_000 // 3600 * 3600), 60)
    alice, bob = UserFactory(), UserFactory()

    def subscribe(user, **extra):
        client.force_login(user)
        response = client.post(
            "/api/v1/indicators/subscribe",
            {"symbol": "SUBS", "timeframe": "1m", "indicators": ["rsi_14", "SMA_20"], **extra},
            content_type="application/json",
        )
        assert response.status_code == 200, response.content
        return response.json()

    a = subscribe(alice)
    assert a["status"] == "success" and len(a["client_id"]) == 32
    assert [(s["indicator_id"], s["subscriber_count"]) for s in a["subscriptions"]] == [
        ("RSI_14", 1),
        ("SMA_20", 1),
    ]
    assert a["subscriptions"][0]["initial_value"] is not None
    b = subscribe(bob)
    assert [s["subscriber_count"] for s in b["subscriptions"]] == [2, 2]
    # renewing with the same client id does not count twice
    again = subscribe(bob, client_id=b["client_id"])
    assert [s["subscriber_count"] for s in again["subscriptions"]] == [2, 2]

    client.force_login(alice)
    stolen = client.post(
        "/api/v1/indicators/unsubscribe",
        {"symbol": "SUBS", "timeframe": "1m", "client_id": b["client_id"]},
        content_type="application/json",
    )
    assert stolen.status_code == 404  # another user's client is invisible
    response = client.post(
        "/api/v1/indicators/unsubscribe",
        {
            "symbol": "SUBS",
            "timeframe": "1m",
            "indicators": ["RSI_14"],
            "client_id": a["client_id"],
        },
        content_type="application/json",
    )
    assert response.json()["unsubscribed"] == [
        {
            "indicator_id": "RSI_14",
            "symbol": "SUBS",
            "timeframe": "1m",
            "subscriber_count": 1,
            "status": "unsubscribed",
        }
    ]
    from apps.marketdata.indicators import streams

    assert streams.active_specs("SUBS", "1m") == {"RSI_14": 1, "SMA_20": 2}
