"""Order-flow API on real trades through the real ingest path and PostgreSQL (issue 6).

References here are written independently of the library: plain loops over the CSV rows,
Decimal price rows and integer volume units, so a bug shared by the library and the store
cannot hide behind an agreeing test.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import pytest

from apps.marketdata.selectors import forget_cached_symbols
from apps.marketdata.tests.conftest import MD, btc_rows, es_columns

pytestmark = pytest.mark.django_db(databases=MD)
TICKS = "/api/v1/market-data/ticks"
FOOTPRINT = "/api/v1/orderflow/footprint"
CVD = "/api/v1/orderflow/cvd"
ES_RANGE = {"start": "2024-07-01T23:58:00Z", "end": "2024-07-02T00:02:00Z"}
BTC_RANGE = {"start": "2024-08-08T23:54:00Z", "end": "2024-08-09T00:01:00Z"}
SIDE = {"B": 1, "A": -1, "S": -1}


@pytest.fixture
def es_loaded(api, es, es_trades):
    response = api(TICKS, es_columns(es_trades))
    assert response.status_code == 200, response.content
    return es


@pytest.fixture
def btc_loaded(api, btc, btc_trades):
    rows = btc_rows(btc_trades)
    for at in range(0, len(rows), 5000):
        response = api(TICKS, {"symbol": "BTCUSDT", "ticks": rows[at : at + 5000]})
        assert response.status_code == 200, response.content
    return btc


def get(client, path: str, **params) -> dict:
    response = client.get(path, params)
    assert response.status_code == 200, response.content
    body = response.json()
    assert isinstance(body["method"], dict) and body["method"]["name"]
    return body


def row_of(price: str, row_size: str) -> Decimal:
    row = Decimal(row_size)
    return (Decimal(price) / row).to_integral_value(rounding="ROUND_FLOOR") * row


def es_minute(row: dict) -> int:
    return int(row["ts_event_ns"]) // 10**9 // 60 * 60


def canonical(rows: list[dict], ts_us, trade_id) -> list[dict]:
    """The store's trade order: microsecond, id length, id."""
    return sorted(rows, key=lambda r: (ts_us(r), len(trade_id(r)), trade_id(r)))


def running_extremes(signed: list[float]) -> tuple[float, float, float]:
    run, high, low = 0.0, 0.0, 0.0
    for value in signed:
        run += value
        high, low = max(high, run), min(low, run)
    return run, high, low


# --- footprint ---------------------------------------------------------------------------


def test_it_serves_es_footprint_rows_equal_to_the_files_aggregation(reader, es_loaded, es_trades):
    body = get(reader, FOOTPRINT, symbol="ESU4", timeframe="1m", row_size="0.25", **ES_RANGE)
    expected: dict = defaultdict(lambda: {"bid": 0.0, "ask": 0.0, "trades": 0})
    for r in es_trades:
        cell = expected[(es_minute(r), float(row_of(r["price"], "0.25")))]
        cell["ask" if r["aggressor_side"] == "B" else "bid"] += float(r["size"])
        cell["trades"] += 1
    got = {(bar["time"], level["price"]): level for bar in body["bars"] for level in bar["levels"]}
    assert set(got) == set(expected)
    for key, cell in expected.items():
        level = got[key]
        assert (level["bid_volume"], level["ask_volume"], level["trades"]) == (
            cell["bid"],
            cell["ask"],
            cell["trades"],
        )
        assert level["delta"] == cell["ask"] - cell["bid"]
    # buy (ask) / sell (bid) totals per minute, as the issue states them
    totals = [(bar["ask_volume"], bar["bid_volume"]) for bar in body["bars"]]
    assert totals == [(14, 4), (12, 11), (103, 72), (13, 24)]
    for bar in body["bars"]:
        assert bar["delta"] == bar["ask_volume"] - bar["bid_volume"]
        assert bar["volume"] == sum(lv["bid_volume"] + lv["ask_volume"] for lv in bar["levels"])
        top = max(lv["bid_volume"] + lv["ask_volume"] for lv in bar["levels"])
        assert bar["poc"] in [
            lv["price"] for lv in bar["levels"] if lv["bid_volume"] + lv["ask_volume"] == top
        ]
    method = body["method"]
    assert method["row_size"] == 0.25 and method["source"] == "footprint_rows"
    assert method["imbalance"]["mode"] == "diagonal" and method["imbalance"]["ratio"] == 3.0
    assert body["tick_size"] == 0.25 and body["timeframe"] == "1m"


def test_it_gives_running_delta_extremes_of_the_trades(reader, es_loaded, es_trades):
    body = get(reader, FOOTPRINT, symbol="ESU4", timeframe="5m", **ES_RANGE)
    by_bar = defaultdict(list)
    ordered = canonical(
        es_trades,
        lambda r: int(r["ts_event_ns"]) // 1000,
        lambda r: f"{r['sequence']}:{r['ts_event_ns']}",
    )
    prices = defaultdict(list)
    for r in ordered:
        by_bar[es_minute(r) // 300 * 300].append(SIDE[r["aggressor_side"]] * float(r["size"]))
        prices[es_minute(r) // 300 * 300].append(float(r["price"]))
    assert [bar["time"] for bar in body["bars"]] == sorted(by_bar)
    for bar in body["bars"]:
        delta, high, low = running_extremes(by_bar[bar["time"]])
        assert (bar["delta"], bar["delta_high"], bar["delta_low"]) == (delta, high, low)
        p = prices[bar["time"]]
        assert bar["candle"] == {"open": p[0], "high": max(p), "low": min(p), "close": p[-1]}


@pytest.mark.parametrize(
    "start, end",
    [
        ("2024-07-01T22:00:00Z", "2024-07-02T02:00:00Z"),
        ("2024-07-01T23:59:00Z", "2024-07-02T01:00:00Z"),
        ("2024-07-01T23:00:00Z", "2024-07-02T00:01:00Z"),
        ("2024-07-01T23:58:30Z", "2024-07-02T00:00:30Z"),
    ],
)
def test_it_reads_price_ranges_from_hourly_and_minute_bars(es_loaded, es_trades, start, end):
    from datetime import datetime

    from apps.marketdata.store import orderflow_reads

    lo, hi = (datetime.fromisoformat(t.replace("Z", "+00:00")) for t in (start, end))
    # 1-minute bars whose minute starts inside [start, end)
    minute = [
        float(r["price"]) for r in es_trades if lo.timestamp() <= es_minute(r) < hi.timestamp()
    ]
    expected = (min(minute), max(minute))
    assert orderflow_reads.price_range(es_loaded.id, lo, hi) == expected
    assert orderflow_reads.price_range(es_loaded.id, lo, hi, hourly=True) == expected


@pytest.mark.parametrize("row_size", ["0.25", "0.5", "2.5"])
def test_it_sums_one_minute_footprints_into_five_minute_bars(reader, es_loaded, row_size):
    one = get(reader, FOOTPRINT, symbol="ESU4", timeframe="1m", row_size="0.25", **ES_RANGE)
    five = get(
        reader,
        FOOTPRINT,
        symbol="ESU4",
        timeframe="5m",
        row_size=row_size,
        start="2024-07-01T23:55:00Z",
        end="2024-07-02T00:05:00Z",
    )
    summed: dict = defaultdict(lambda: [0.0, 0.0, 0])
    for bar in one["bars"]:
        for level in bar["levels"]:
            key = (bar["time"] // 300 * 300, float(row_of(str(level["price"]), row_size)))
            summed[key][0] += level["bid_volume"]
            summed[key][1] += level["ask_volume"]
            summed[key][2] += level["trades"]
    got = {
        (bar["time"], lv["price"]): [lv["bid_volume"], lv["ask_volume"], lv["trades"]]
        for bar in five["bars"]
        for lv in bar["levels"]
    }
    assert got == summed
    assert [b["time"] for b in five["bars"]] == [1719878100, 1719878400]
    assert five["start"] == 1719878100 and five["end"] == 1719878700
    assert five["row_size"] == float(row_size)


def _diagonal(levels, ratio, min_volume):
    """SPEC 7 diagonal imbalances of one bar: rows inside the bar's range missing from
    ``levels`` have zero volume."""
    bid = {Decimal(str(lv["price"])): lv["bid_volume"] for lv in levels}
    ask = {Decimal(str(lv["price"])): lv["ask_volume"] for lv in levels}
    step = Decimal("0.25")
    out = set()

    def wins(strong, weak):
        return strong > 0 and (strong >= ratio * weak if weak > 0 else strong >= min_volume)

    for p in bid:
        if p > min(bid) and wins(ask[p], bid.get(p - step, 0.0)):  # buy at P+1 = p
            out.add((float(p), "buy"))
        if p < max(bid) and wins(bid[p], ask.get(p + step, 0.0)):  # sell at P = p
            out.add((float(p), "sell"))
    return out


def _horizontal(levels, ratio, min_volume):
    out = set()
    for lv in levels:
        for side, strong, weak in (
            ("buy", lv["ask_volume"], lv["bid_volume"]),
            ("sell", lv["bid_volume"], lv["ask_volume"]),
        ):
            if strong > 0 and (strong >= ratio * weak if weak > 0 else strong >= min_volume):
                out.add((lv["price"], side))
    return out


@pytest.mark.parametrize(
    "mode, ratio, min_volume",
    [("diagonal", 1.5, 2.0), ("diagonal", 3.0, 0.0), ("horizontal", 2.0, 5.0)],
)
def test_it_flags_imbalances_with_the_requested_parameters(
    reader, es_loaded, mode, ratio, min_volume
):
    body = get(
        reader,
        FOOTPRINT,
        symbol="ESU4",
        timeframe="1m",
        mode=mode,
        ratio=ratio,
        min_volume=min_volume,
        stack=2,
        **ES_RANGE,
    )
    reference = _diagonal if mode == "diagonal" else _horizontal
    flagged = 0
    for bar in body["bars"]:
        got = {(imb["price"], imb["side"]) for imb in bar["imbalances"]}
        assert got == reference(bar["levels"], ratio, min_volume), bar["time"]
        flagged += len(got)
        for zone in bar["stacked_imbalances"]:
            assert zone["rows"] >= 2
    assert flagged > 0
    imbalance = body["method"]["imbalance"]
    assert (imbalance["mode"], imbalance["ratio"], imbalance["min_volume"]) == (
        mode,
        ratio,
        min_volume,
    )
    assert imbalance["stacked"]["min_rows"] == 2


def test_it_takes_footprint_defaults_from_the_symbol(reader, es_loaded):
    es_loaded.footprint_row_ticks = 2
    es_loaded.imbalance_ratio = 2.5
    es_loaded.imbalance_min_volume = 4.0
    es_loaded.stacked_imbalance_rows = 4
    es_loaded.save()
    forget_cached_symbols()  # the API memoises symbols for a few seconds
    body = get(reader, FOOTPRINT, symbol="ESU4", limit=10)
    assert body["row_size"] == 0.5 and body["method"]["row_size"] == 0.5
    imbalance = body["method"]["imbalance"]
    assert (imbalance["ratio"], imbalance["min_volume"]) == (2.5, 4.0)
    assert imbalance["stacked"]["min_rows"] == 4
    # no start/end: the newest `limit` bars ending after the newest data
    assert body["end"] == 1719878520 and body["start"] == 1719878520 - 600
    assert len(body["bars"]) == 4


def test_it_counts_limit_bars_from_start_or_back_from_end(reader, es_loaded):
    def times(**params):
        body = get(reader, FOOTPRINT, symbol="ESU4", **params)
        return body["start"], body["end"], [bar["time"] for bar in body["bars"]]

    t0 = 1719878280  # 2024-07-01 23:58 UTC, the first traded minute
    assert times(start=t0 + 5, limit=2) == (t0, t0 + 120, [t0, t0 + 60])
    assert times(end=t0 + 121, limit=2) == (t0 + 60, t0 + 180, [t0 + 60, t0 + 120])
    # past the newest data: one empty bar, never an inverted range
    assert times(start="2024-07-03T00:00:00Z") == (1719964800, 1719964860, [])
    daily = times(timeframe="1d", start="2024-07-01T23:00:00Z", limit=5)
    assert daily == (1719871200, 1719954000, [1719871200])


def test_it_builds_sub_minute_footprints_from_ticks(reader, es_loaded, es_trades):
    body = get(reader, FOOTPRINT, symbol="ESU4", timeframe="15s", **ES_RANGE)
    assert body["method"]["source"] == "trades"
    assert body["method"]["inferred_sides"] == 0
    expected: dict = defaultdict(float)
    for r in es_trades:
        key = (int(r["ts_event_ns"]) // 10**9 // 15 * 15, float(r["price"]), r["aggressor_side"])
        expected[key] += float(r["size"])
    got: dict = defaultdict(float)
    for bar in body["bars"]:
        for lv in bar["levels"]:
            if lv["ask_volume"]:
                got[(bar["time"], lv["price"], "B")] += lv["ask_volume"]
            if lv["bid_volume"]:
                got[(bar["time"], lv["price"], "A")] += lv["bid_volume"]
    assert got == expected
    first = body["bars"][0]
    minute = [r for r in es_trades if int(r["ts_event_ns"]) // 10**9 // 15 * 15 == first["time"]]
    assert first["candle"]["open"] == float(minute[0]["price"])
    assert first["candle"]["close"] == float(minute[-1]["price"])


def test_it_builds_daily_footprints_on_the_session(reader, es_loaded):
    body = get(reader, FOOTPRINT, symbol="ESU4", timeframe="1d", limit=2)
    # CME: the session of 2024-07-02 opened 2024-07-01 17:00 Chicago = 22:00 UTC
    assert [bar["time"] for bar in body["bars"]] == [1719871200]
    assert (body["bars"][0]["ask_volume"], body["bars"][0]["bid_volume"]) == (142, 111)
    assert body["bars"][0]["candle"]["open"] == 5528.75
    assert body["end"] == 1719954000  # 2024-07-02 16:00 Chicago
    for timeframe in ("1d", "1w"):  # the same bars as the bars API
        bars = reader.get("/api/v1/market-data/ESU4", {"timeframe": timeframe}).json()["bars"]
        (footprint,) = get(reader, FOOTPRINT, symbol="ESU4", timeframe=timeframe)["bars"]
        assert [b["time"] for b in bars] == [footprint["time"]]
        assert (bars[0]["ask_volume"], bars[0]["bid_volume"]) == (
            footprint["ask_volume"],
            footprint["bid_volume"],
        )
        candle = footprint["candle"]
        assert [candle[k] for k in ("open", "high", "low", "close")] == [
            bars[0][k] for k in ("open", "high", "low", "close")
        ]


# --- CVD ---------------------------------------------------------------------------------


@pytest.mark.parametrize("timeframe, seconds", [("1s", 1), ("15s", 15), ("1m", 60)])
@pytest.mark.parametrize("reset", ["none", "session"])
def test_it_gives_cvd_candles_by_the_spec_definition(
    reader, btc_loaded, btc_trades, timeframe, seconds, reset
):
    body = get(reader, CVD, symbol="BTCUSDT", timeframe=timeframe, limit=2000, reset=reset)
    per_bar = defaultdict(list)
    for r in canonical(
        btc_trades, lambda r: int(r["trade_time_ms"]) * 1000, lambda r: r["trade_id"]
    ):
        t = int(r["trade_time_ms"]) // 1000 // seconds * seconds
        per_bar[t].append(SIDE[r["aggressor_side"]] * float(r["qty"]))
    bars = body["bars"]
    assert [b["time"] for b in bars] == sorted(per_bar)
    previous_close = 0.0
    for bar in bars:
        delta, high, low = running_extremes(per_bar[bar["time"]])
        new_session = reset == "session" and bar["time"] == 1723161600  # 2024-08-09 00:00 UTC
        expected_open = 0.0 if new_session else previous_close
        assert bar["open"] == pytest.approx(expected_open, abs=1e-9)
        assert bar["delta"] == pytest.approx(delta, abs=1e-9)
        assert bar["close"] == pytest.approx(bar["open"] + delta, abs=1e-9)
        assert bar["high"] == pytest.approx(bar["open"] + high, abs=1e-9)
        assert bar["low"] == pytest.approx(bar["open"] + low, abs=1e-9)
        assert bar["low"] <= min(bar["open"], bar["close"]) <= max(bar["open"], bar["close"])
        assert max(bar["open"], bar["close"]) <= bar["high"]
        assert bar["timestamp"].endswith("Z")
        previous_close = bar["close"]
    assert body["method"]["reset"] == reset and body["method"]["name"] == "cumulative_delta_bars"


def test_it_anchors_session_cvd_at_the_session_start_whatever_the_window(reader, btc_loaded):
    full = get(reader, CVD, symbol="BTCUSDT", timeframe="1s", limit=2000)["bars"]
    tail = get(reader, CVD, symbol="BTCUSDT", timeframe="1s", limit=50, end="2024-08-09T00:00:00Z")
    by_time = {b["time"]: b for b in full}
    for bar in tail["bars"]:
        assert bar == by_time[bar["time"]]
    assert tail["bars"][0]["open"] != 0.0  # mid-session: not re-anchored at the window


def test_it_offsets_session_cvd_when_the_open_is_beyond_one_read(reader, btc_loaded, monkeypatch):
    from apps.marketdata.store import reads

    full = get(reader, CVD, symbol="BTCUSDT", timeframe="1s", limit=2000)["bars"]
    monkeypatch.setattr(reads, "MAX_BARS", 60)  # the session opened ~290 bars earlier
    tail = get(reader, CVD, symbol="BTCUSDT", timeframe="1s", limit=50, end="2024-08-09T00:00:00Z")
    by_time = {b["time"]: b for b in full}
    assert len(tail["bars"]) == 50
    for bar in tail["bars"]:
        expected = by_time[bar["time"]]
        for key in ("open", "high", "low", "close", "delta"):
            assert bar[key] == pytest.approx(expected[key], abs=1e-9)
        assert bar["bearish_divergence"] == expected["bearish_divergence"]
        assert bar["bullish_divergence"] == expected["bullish_divergence"]


def test_it_flags_cvd_divergences_by_the_rule(reader, btc_loaded):
    body = get(reader, CVD, symbol="BTCUSDT", timeframe="5s", limit=2000, reset="none", lookback=5)
    price = reader.get("/api/v1/market-data/BTCUSDT", {"timeframe": "5s", "limit": 2000})
    highs = {b["time"]: (b["high"], b["low"]) for b in price.json()["bars"]}
    bars = body["bars"]
    for i, bar in enumerate(bars):
        window = bars[max(0, i - 5) : i]
        if not window:
            assert not bar["bearish_divergence"] and not bar["bullish_divergence"]
            continue
        ph, pl = highs[bar["time"]]
        bearish = ph > max(highs[w["time"]][0] for w in window) and bar["high"] < max(
            w["high"] for w in window
        )
        bullish = pl < min(highs[w["time"]][1] for w in window) and bar["low"] > min(
            w["low"] for w in window
        )
        assert (bar["bearish_divergence"], bar["bullish_divergence"]) == (bearish, bullish)
    assert body["method"]["divergence"]["lookback"] == 5
