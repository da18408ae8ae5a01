"""Volume profile and Market Profile (TPO) endpoints, bad parameters and visibility.

The volume profile is checked against the Binance file with an independent dual-price
implementation (Decimal rows, integer volume units); TPO against hand-built 1-minute bars
posted through the Sierra Chart batch endpoint, whose letters, initial balance, single
prints and poor extremes are worked out by hand below.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import pytest

from apps.accounts.tests.factories import UserFactory
from apps.marketdata.analytics.orderflow.tests._reference import dual_price_value_area
from apps.marketdata.services import symbol_upsert
from apps.marketdata.tests.conftest import MD, btc_rows
from apps.marketdata.tests.test_orderflow_api import BTC_RANGE, TICKS, get

pytestmark = pytest.mark.django_db(databases=MD)
PROFILE = "/api/v1/volume-profile/BTCUSDT"
UNITS = 10**8  # Binance quantities have at most 8 decimals


@pytest.fixture
def btc_loaded(api, btc, btc_trades):
    response = api(TICKS, {"symbol": "BTCUSDT", "ticks": btc_rows(btc_trades)})
    assert response.status_code == 200, response.content
    return btc


def reference_profile(trades: list[dict], row_size: str, percent: int) -> dict:
    """SPEC 7 by the book: integer volume units on Decimal rows, then the library tests'
    plain dual-price loop (``dual_price_value_area``)."""
    row = Decimal(row_size)
    volume: dict[int, int] = defaultdict(int)
    ask = bid = 0
    for r in trades:
        index = int((Decimal(r["price"]) / row).to_integral_value(rounding="ROUND_FLOOR"))
        units = int(Decimal(r["qty"]) * UNITS)
        volume[index] += units
        if r["aggressor_side"] == "B":
            ask += units
        else:
            bid += units
    low = min(volume)
    grid = [volume.get(i, 0) for i in range(low, max(volume) + 1)]
    total = sum(grid)
    poc, lo, hi = dual_price_value_area(grid, percent)

    def price(i):
        return float((low + i) * row)

    return {
        "poc": price(poc),
        "vah": price(hi),
        "val": price(lo),
        "total": total / UNITS,
        "ask": ask / UNITS,
        "bid": bid / UNITS,
        "rows": {price(i): v / UNITS for i, v in enumerate(grid)},
    }


@pytest.mark.parametrize("row_size", ["0.01", "0.05", "1", "5"])
@pytest.mark.parametrize("value_area", [70, 50])
def test_it_follows_the_dual_price_rule_on_binance_trades(
    reader, btc_loaded, btc_trades, row_size, value_area
):
    body = get(reader, PROFILE, row_size=row_size, value_area=value_area, **BTC_RANGE)
    ref = reference_profile(btc_trades, row_size, value_area)
    assert (body["poc"], body["vah"], body["val"]) == (ref["poc"], ref["vah"], ref["val"])
    assert body["total_volume"] == pytest.approx(ref["total"], abs=1e-8)
    assert body["total_volume"] == pytest.approx(sum(float(r["qty"]) for r in btc_trades))
    assert body["ask_volume"] == pytest.approx(ref["ask"], abs=1e-8)
    assert body["bid_volume"] == pytest.approx(ref["bid"], abs=1e-8)
    got = {row["price"]: row["volume"] for row in body["profile"]}
    assert got.keys() == ref["rows"].keys()
    for price, volume in ref["rows"].items():
        assert got[price] == pytest.approx(volume, abs=1e-8)
    for row in body["profile"]:
        assert row["volume"] == pytest.approx(row["bid_volume"] + row["ask_volume"], abs=1e-8)
    method = body["method"]
    assert method["value_area"]["method"] == "dual_price"
    assert method["value_area"]["percent"] == value_area
    assert method["row_size"] == float(row_size) and method["row_size_rule"] == "requested"
    for node in body["hvn"] + body["lvn"]:
        assert node["price"] in got


def test_it_profiles_a_session_and_defaults_to_the_latest(reader, btc_loaded, btc_trades):
    day = get(reader, PROFILE, session="2024-08-08", row_size="1")
    ref = reference_profile([r for r in btc_trades if r["trade_time"] < "2024-08-09"], "1", 70)
    assert (day["poc"], day["vah"], day["val"]) == (ref["poc"], ref["vah"], ref["val"])
    assert day["total_volume"] == pytest.approx(ref["total"], abs=1e-8)
    assert (day["session"], day["session_start"], day["session_end"]) == (
        "2024-08-08",
        1723075200,
        1723161600,
    )
    latest = get(reader, PROFILE)
    assert latest["session"] == "2024-08-09"
    late = [r for r in btc_trades if r["trade_time"] >= "2024-08-09"]
    assert latest["total_volume"] == pytest.approx(sum(float(r["qty"]) for r in late))


def test_it_widens_rows_automatically_for_a_long_range(reader, btc_loaded):
    body = get(reader, PROFILE, **BTC_RANGE)
    # 277.58 of range at the 0.01 tick is 27,759 rows: x20 (0.2) is the first fit in 2000
    assert body["row_size"] == 0.2 and len(body["profile"]) <= 2000
    assert body["method"]["row_size_rule"].startswith("auto")


def test_it_gives_developing_levels_ending_at_the_profile(reader, btc_loaded, btc_trades):
    body = get(reader, PROFILE, session="2024-08-08", row_size="1", developing=1, timeframe="1m")
    series = body["developing"]["series"]
    assert [p["time"] for p in series] == list(range(1723161240, 1723161600, 60))
    last = series[-1]
    assert (last["poc"], last["vah"], last["val"]) == (body["poc"], body["vah"], body["val"])
    assert last["volume"] == pytest.approx(body["total_volume"])
    for point in series[:-1]:
        cut = [r for r in btc_trades if int(r["trade_time_ms"]) // 1000 < point["time"] + 60]
        ref = reference_profile(cut, "1", 70)
        assert (point["poc"], point["vah"], point["val"]) == (ref["poc"], ref["vah"], ref["val"])
    assert body["developing"]["method"]["name"] == "developing_volume_profile"


def test_it_reports_naked_pocs_of_earlier_sessions(reader, btc_loaded, btc_trades):
    body = get(reader, PROFILE, session="2024-08-09", row_size="1", naked=3)
    (poc,) = body["naked_pocs"]["pocs"]  # only one earlier session has data
    earlier = [r for r in btc_trades if r["trade_time"] < "2024-08-09"]
    later = [float(r["price"]) for r in btc_trades if r["trade_time"] >= "2024-08-09"]
    assert poc["session"] == "2024-08-08"
    assert poc["poc"] == reference_profile(earlier, "1", 70)["poc"]
    touched = min(later) <= poc["poc"] <= max(later)
    assert poc["naked"] is (not touched)
    assert body["naked_pocs"]["method"]["name"] == "naked_poc"


def test_it_splits_a_range_by_session(reader, btc_loaded, btc_trades):
    body = get(reader, PROFILE, start="2024-08-08", end="2024-08-10", row_size="1", split="session")
    days = [s["session"] for s in body["sessions"]]
    assert days == ["2024-08-08", "2024-08-09"]
    for session in body["sessions"]:
        part = [r for r in btc_trades if r["trade_time"][:10] == session["session"]]
        ref = reference_profile(part, "1", 70)
        assert (session["poc"], session["vah"], session["val"]) == (
            ref["poc"],
            ref["vah"],
            ref["val"],
        )
        assert session["total_volume"] == pytest.approx(ref["total"], abs=1e-8)


# --- TPO -----------------------------------------------------------------------------------

# Session 2024-03-05, 09:30-16:00 New York (14:30 UTC): periods A-E as (low, high).
DAY1 = [(100, 104), (102, 106), (101, 103), (103, 108), (103, 104)]
# 2024-03-06: a balanced day with poor high and low.
DAY2 = [(100, 102), (100, 102), (101, 101)]


def _bars(day: str, periods) -> list[dict]:
    bars = []
    for k, (low, high) in enumerate(periods):
        mid = min(low + 1, high)
        for offset, (lo, hi) in ((0, (low, mid)), (20, (mid, high))):
            minute = 14 * 60 + 30 + 30 * k + offset
            bars.append(
                {
                    "timestamp": f"{day} {minute // 60:02d}:{minute % 60:02d}:00",
                    "open": lo,
                    "high": hi,
                    "low": lo,
                    "close": hi,
                    "volume": 10,
                    "bid_volume": 5,
                    "ask_volume": 5,
                    "number_of_trades": 4,
                    "chart_info": {"symbol": "TPOX", "chart_number": 1, "seconds_per_bar": 60},
                }
            )
    return bars


@pytest.fixture
def tpo(api, db):
    symbol = symbol_upsert(
        symbol="TPOX",
        exchange="TEST",
        asset_type="stocks",
        tick_size="0.25",
        timezone="America/New_York",
        session="09:30-16:00",
    )[0]
    after_close = _bars("2024-03-05", [(200, 201)])[0] | {"timestamp": "2024-03-05 21:10:00"}
    data = _bars("2024-03-05", DAY1) + _bars("2024-03-06", DAY2) + [after_close]
    response = api("/api/v1/market-data/batch", {"data": data, "metadata": {}})
    assert response.status_code == 200, response.content
    return symbol


def letters(body) -> dict:
    return {row["price"]: row["letters"] for row in body["rows"]}


def test_it_letters_a_tpo_session_with_ib_single_prints_and_extension(reader, tpo):
    body = get(reader, "/api/v1/market-profile/TPOX", session="2024-03-05", row_size="1")
    assert letters(body) == {
        100.0: "A",
        101.0: "AC",
        102.0: "ABC",
        103.0: "ABCDE",
        104.0: "ABDE",
        105.0: "BD",
        106.0: "BD",
        107.0: "D",
        108.0: "D",
    }
    assert (body["poc"], body["vah"], body["val"]) == (103.0, 105.0, 101.0)
    assert (body["tpo_count"], body["value_area_count"]) == (21, 16)
    ib = body["initial_balance"]
    assert (ib["high"], ib["low"], ib["range"], ib["complete"]) == (106.0, 100.0, 6.0, True)
    assert ib["extensions"] == {
        "up_1_5x": 109.0,
        "up_2x": 112.0,
        "down_1_5x": 97.0,
        "down_2x": 94.0,
    }
    assert body["range_extension"] == {
        "up": True,
        "down": False,
        "up_letter": "D",
        "down_letter": None,
    }
    assert body["single_prints"] == [100.0, 107.0, 108.0]
    assert [(r["price_low"], r["price_high"], r["kind"]) for r in body["single_print_runs"]] == [
        (100.0, 100.0, "excess_low"),
        (107.0, 108.0, "excess_high"),
    ]
    assert (body["poor_high"], body["poor_low"]) == (False, False)
    assert (body["session"], body["session_start"], body["session_end"]) == (
        "2024-03-05",
        1709649000,
        1709672400,
    )
    assert [p["letter"] for p in body["periods"]] == ["A", "B", "C", "D", "E"]
    assert body["method"]["period_minutes"] == 30 and body["period"] == "30m"


def test_it_finds_poor_extremes_and_merges_sessions(reader, tpo):
    day2 = get(reader, "/api/v1/market-profile/TPOX", session="2024-03-06", row_size="1")
    assert letters(day2) == {100.0: "AB", 101.0: "ABC", 102.0: "AB"}
    assert (day2["poor_high"], day2["poor_low"], day2["single_prints"]) == (True, True, [])
    assert day2["range_extension"]["up"] is False

    both = get(
        reader, "/api/v1/market-profile/TPOX", session="2024-03-06", sessions=2, row_size="1"
    )
    assert both["session"] == "2024-03-06"
    assert [p["session"] for p in both["previous"]] == ["2024-03-05"]
    assert letters(both["previous"][0])[103.0] == "ABCDE"

    merged = get(
        reader,
        "/api/v1/market-profile/TPOX",
        session="2024-03-06",
        sessions=2,
        merge=1,
        row_size="1",
    )
    assert merged["merged_sessions"] == ["2024-03-05", "2024-03-06"]
    counts = {row["price"]: row["count"] for row in merged["rows"]}
    assert counts == {100.0: 3, 101.0: 5, 102.0: 5, 103.0: 5, 104.0: 4, 105.0: 2, 106.0: 2,
                      107.0: 1, 108.0: 1}  # fmt: skip
    assert merged["poc"] == 103.0  # 101-103 tie: nearest the middle (104) of 100-108
    assert merged["initial_balance"] is None and merged["method"]["merged"] is True


def test_it_uses_the_requested_period_and_auto_rows(reader, tpo):
    hourly = get(
        reader, "/api/v1/market-profile/TPOX", session="2024-03-05", period="1h", row_size="1"
    )
    got = letters(hourly)
    assert (got[100.0], got[103.0], got[107.0]) == ("A", "ABC", "B")
    assert hourly["initial_balance"]["high"] == 108.0  # A and B now span 14:30-15:30 UTC+1h
    auto = get(reader, "/api/v1/market-profile/TPOX", session="2024-03-05")
    assert auto["row_size"] == 0.25 and auto["rows"][0]["price"] == 100.0
    assert auto["method"]["row_size_rule"].startswith("auto")


# --- errors and visibility -----------------------------------------------------------------

BAD = [
    ("/api/v1/orderflow/footprint", {}, "symbol", "invalid_parameter"),
    ("/api/v1/orderflow/footprint", {"timeframe": "7m"}, "timeframe", "invalid_timeframe"),
    ("/api/v1/orderflow/footprint", {"row_size": "0.003"}, "row_size", "invalid_parameter"),
    ("/api/v1/orderflow/footprint", {"row_size": "-1"}, "row_size", "invalid_parameter"),
    ("/api/v1/orderflow/footprint", {"row_size": "abc"}, "row_size", "invalid_parameter"),
    ("/api/v1/orderflow/footprint", {"row_size": "NaN"}, "row_size", "invalid_parameter"),
    ("/api/v1/orderflow/footprint", {"row_size": "1e99999999"}, "row_size", "invalid_parameter"),
    ("/api/v1/orderflow/footprint", {"ratio": "nan"}, "ratio", "invalid_parameter"),
    ("/api/v1/orderflow/footprint", {"ratio": "abc"}, "ratio", "invalid_parameter"),
    ("/api/v1/orderflow/footprint", {"ratio": "0.5"}, "ratio", "invalid_parameter"),
    ("/api/v1/orderflow/footprint", {"min_volume": "-1"}, "min_volume", "invalid_parameter"),
    ("/api/v1/orderflow/footprint", {"mode": "vertical"}, "mode", "invalid_parameter"),
    ("/api/v1/orderflow/footprint", {"stack": "0"}, "stack", "invalid_parameter"),
    ("/api/v1/orderflow/footprint", {"limit": "5000"}, "limit", "invalid_parameter"),
    ("/api/v1/orderflow/footprint", {"start": "yesterday"}, "start", "invalid_parameter"),
    (
        "/api/v1/orderflow/footprint",
        {"start": "2024-08-09", "end": "2024-08-08"},
        "start",
        "invalid_parameter",
    ),
    (
        "/api/v1/orderflow/footprint",
        {"timeframe": "1s", "start": "2024-08-08T23:00:00Z", "end": "2024-08-09T00:00:00Z"},
        "start",
        "too_many_bars",
    ),
    ("/api/v1/orderflow/cvd", {"reset": "daily"}, "reset", "invalid_parameter"),
    ("/api/v1/orderflow/cvd", {"lookback": "0"}, "lookback", "invalid_parameter"),
    ("/api/v1/orderflow/cvd", {"limit": "30000"}, "limit", "invalid_parameter"),
    ("/api/v1/volume-profile/BTCUSDT", {"value_area": "0"}, "value_area", "invalid_parameter"),
    ("/api/v1/volume-profile/BTCUSDT", {"value_area": "101"}, "value_area", "invalid_parameter"),
    ("/api/v1/volume-profile/BTCUSDT", {"session": "2024-13-01"}, "session", "invalid_parameter"),
    (
        "/api/v1/volume-profile/BTCUSDT",
        {"session": "2024-08-08", "start": "2024-08-08"},
        "session",
        "invalid_parameter",
    ),
    ("/api/v1/volume-profile/BTCUSDT", {"end": "2024-08-09"}, "start", "invalid_parameter"),
    ("/api/v1/volume-profile/BTCUSDT", {"developing": "2"}, "developing", "invalid_parameter"),
    (
        "/api/v1/volume-profile/BTCUSDT",
        {"developing": "1", "timeframe": "1s"},
        "timeframe",
        "invalid_timeframe",
    ),
    ("/api/v1/volume-profile/BTCUSDT", {"naked": "-1"}, "naked", "invalid_parameter"),
    ("/api/v1/volume-profile/BTCUSDT", {"split": "day"}, "split", "invalid_parameter"),
    (
        "/api/v1/volume-profile/BTCUSDT",
        {"start": "2020-01-01", "end": "2024-01-01"},
        "start",
        "invalid_parameter",
    ),
    ("/api/v1/market-profile/BTCUSDT", {"period": "0"}, "period", "invalid_parameter"),
    ("/api/v1/market-profile/BTCUSDT", {"period": "abc"}, "period", "invalid_parameter"),
    ("/api/v1/market-profile/BTCUSDT", {"sessions": "0"}, "sessions", "invalid_parameter"),
    ("/api/v1/market-profile/BTCUSDT", {"merge": "maybe"}, "merge", "invalid_parameter"),
]


@pytest.mark.parametrize("path, params, field, code", BAD)
def test_it_rejects_bad_parameters_with_one_error_shape(reader, btc, path, params, field, code):
    if path.startswith("/api/v1/orderflow") and field != "symbol":
        params = {"symbol": "BTCUSDT", **params}
    response = reader.get(path, params)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert set(error) == {"code", "message", "field"}
    assert (error["field"], error["code"]) == (field, code)
    assert error["message"]


@pytest.fixture
def secret(db):
    return symbol_upsert(
        symbol="SECRET", exchange="TEST", asset_type="crypto", tick_size="0.01", is_public=False
    )[0]


PATHS = [
    ("/api/v1/orderflow/footprint", {"symbol": "SECRET"}),
    ("/api/v1/orderflow/cvd", {"symbol": "SECRET"}),
    ("/api/v1/volume-profile/SECRET", {}),
    ("/api/v1/market-profile/SECRET", {}),
]


@pytest.mark.parametrize("path, params", PATHS)
def test_it_hides_private_symbols(reader, client, secret, path, params):
    response = reader.get(path, params)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    client.force_login(UserFactory(is_staff=True))
    assert client.get(path, params).status_code == 200


@pytest.mark.parametrize("path, params", PATHS)
def test_it_refuses_anonymous_callers_by_default(client, secret, path, params):
    assert client.get(path, params).status_code in (401, 403)
