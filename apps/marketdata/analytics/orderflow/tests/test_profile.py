from collections import defaultdict
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.marketdata.analytics.orderflow import (
    developing_profile,
    naked_pocs,
    session_profiles,
    volume_nodes,
    volume_profile_from_rows,
    volume_profile_from_trades,
)

from ._data import btc_trades, es_trades, minute_rows
from ._reference import dual_price_value_area, row_of

UNIT = Decimal("1e-8")  # Binance quantities have at most 8 decimals


def _reference_profile(prices, sizes, row_size, pct=70.0):
    """POC/VAH/VAL of exact decimal row sums, contiguous rows, by the book."""
    sums = defaultdict(Decimal)
    for p, q in zip(prices.tolist(), sizes.tolist(), strict=True):
        sums[row_of(p, row_size)] += Decimal(repr(q))
    row = Decimal(repr(row_size))
    low, high = min(sums), max(sums)
    n = int((high - low) / row) + 1
    grid = [low + i * row for i in range(n)]
    volumes = [int(sums.get(p, Decimal(0)) / UNIT) for p in grid]
    poc, lo, hi = dual_price_value_area(volumes, pct)
    return grid[poc], grid[hi], grid[lo], sum(sums.values())


@pytest.mark.parametrize("row_size", [0.01, 0.5, 1.0, 5.0])
@pytest.mark.parametrize("pct", [70.0, 68.0, 90.0])
def test_it_finds_binance_poc_and_value_area_by_the_dual_price_rule(row_size, pct):
    btc = btc_trades()
    result = volume_profile_from_trades(
        btc["price"], btc["size"], btc["side"], row_size=row_size, value_area=pct
    )
    poc, vah, val, total = _reference_profile(btc["price"], btc["size"], row_size, pct)
    assert Decimal(repr(result["poc"])) == poc
    assert Decimal(repr(result["vah"])) == vah
    assert Decimal(repr(result["val"])) == val
    assert Decimal(repr(result["total_volume"])) == total
    assert result["method"]["value_area"] == {
        "method": "dual_price",
        "percent": pct,
        "rule": result["method"]["value_area"]["rule"],
    }


def test_it_keeps_the_binance_file_volume_and_split():
    btc = btc_trades()
    result = volume_profile_from_trades(btc["price"], btc["size"], btc["side"], row_size=0.01)
    total = sum(Decimal(repr(q)) for q in btc["size"].tolist())
    assert Decimal(repr(result["total_volume"])) == total
    rows = result["profile"]
    assert Decimal(repr(sum(r["volume"] for r in rows))).quantize(UNIT) == total
    buys = sum(
        Decimal(repr(q)) for q, s in zip(btc["size"].tolist(), btc["code"], strict=True) if s == "B"
    )
    assert Decimal(repr(result["ask_volume"])) == buys
    assert Decimal(repr(result["bid_volume"])) == total - buys
    # Contiguous rows at the row size, ascending; percentages add up to 100.
    steps = np.diff([Decimal(repr(r["price"])) for r in rows])
    assert set(steps.tolist()) == {Decimal("0.01")}
    assert abs(sum(r["percent"] for r in rows) - 100.0) <= len(rows) * 5e-7  # 6 decimals
    assert any(r["volume"] == 0 for r in rows)
    for r in rows:
        assert abs(r["volume"] - (r["bid_volume"] + r["ask_volume"])) < 1e-9
    assert result["val"] <= result["poc"] <= result["vah"]
    assert result["value_area_volume"] >= 0.7 * result["total_volume"]


def test_it_gives_the_same_profile_from_stored_minute_rows():
    btc = btc_trades()
    cols, _ = minute_rows(btc["ts_ns"], btc["price"], btc["size"], btc["side"], 0.01)
    direct = volume_profile_from_trades(btc["price"], btc["size"], btc["side"], row_size=0.5)
    stored = volume_profile_from_rows(
        cols["price"], cols["bid_volume"], cols["ask_volume"], row_size=0.5
    )
    for key in ("poc", "vah", "val", "total_volume", "bid_volume", "ask_volume", "hvn", "lvn"):
        assert stored[key] == direct[key], key
    assert stored["profile"] == direct["profile"]


def test_it_builds_the_es_profile():
    es = es_trades()
    result = volume_profile_from_trades(es["price"], es["size"], es["side"], row_size=0.25)
    assert result["total_volume"] == es["size"].sum() == 253.0
    by_price = {r["price"]: r["volume"] for r in result["profile"]}
    poc, vah, val, _ = _reference_profile(es["price"], es["size"], 0.25)
    assert (result["poc"], result["vah"], result["val"]) == (float(poc), float(vah), float(val))
    assert by_price[result["poc"]] == max(by_price.values())


# ------------------------------------------------------------------- rules by example


def _profile(volumes, pct=70.0):
    prices = [100.0 + i for i in range(len(volumes))]
    vol = np.asarray(volumes, dtype=float)
    return volume_profile_from_rows(prices, vol / 2, vol / 2, row_size=1.0, value_area=pct)


def test_it_breaks_poc_ties_towards_the_middle_then_lower():
    assert _profile([5, 1, 5, 1, 1])["poc"] == 102.0  # nearest the middle (102)
    assert _profile([1, 5, 1, 5, 1, 1])["poc"] == 103.0  # middle 102.5: 103 is nearer
    assert _profile([5, 1, 1, 5])["poc"] == 100.0  # equally far: the lower


def test_it_adds_the_larger_pair_and_the_upper_on_a_tie():
    # POC 104 (10). Pairs above: (4+4) then (1); below: (5+3) then (1+1). 8 vs 8: upper.
    r = _profile([1, 1, 3, 5, 10, 4, 4, 1])
    assert (r["poc"], r["val"], r["vah"]) == (104.0, 102.0, 106.0)  # 10+8+8 = 26 >= 20.3


def test_it_keeps_adding_from_the_other_side_at_an_edge():
    # POC at the top row: only pairs below exist.
    r = _profile([2, 2, 2, 2, 2, 6])  # 6, +4, +4 = 14 >= 11.2
    assert (r["poc"], r["vah"], r["val"]) == (105.0, 105.0, 101.0)
    r = _profile([6, 2, 2, 2, 2, 2])  # the same at the bottom edge
    assert (r["poc"], r["val"], r["vah"]) == (100.0, 100.0, 104.0)


def test_it_counts_untraded_rows_inside_the_range_as_rows():
    # Rows 101-102 did not trade: the pair above the POC (100) is (0 + 0), then (6 + 0).
    r = _profile([7, 0, 0, 6, 0, 1], pct=80.0)
    assert r["profile"][1]["volume"] == 0.0
    assert (r["poc"], r["val"], r["vah"]) == (100.0, 100.0, 104.0)


def test_it_stops_as_soon_as_the_percentage_is_reached():
    assert _profile([1, 2, 10, 2, 1], pct=50.0)["vah"] == 102.0
    r = _profile([1, 2, 10, 2, 1], pct=100.0)
    assert (r["val"], r["vah"]) == (100.0, 104.0)


def test_it_returns_an_empty_profile_without_volume():
    r = volume_profile_from_rows([], [], [], row_size=1.0)
    assert (r["poc"], r["vah"], r["val"], r["profile"]) == (None, None, None, [])


def test_it_refuses_a_profile_with_too_many_rows():
    with pytest.raises(ValueError, match="row_size"):
        volume_profile_from_rows([1.0, 5000.0], [1, 1], [1, 1], row_size=0.01)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(0, 12), min_size=1, max_size=40),
    st.sampled_from([50.0, 68.0, 70.0, 80.0, 100.0]),
)
def test_it_matches_a_step_by_step_dual_price_loop(volumes, pct):
    if sum(volumes) == 0:
        volumes = [*volumes, 1]
    # Trim untraded edge rows: a profile's range is its traded rows.
    while volumes[0] == 0:
        volumes = volumes[1:]
    while volumes[-1] == 0:
        volumes = volumes[:-1]
    r = _profile(volumes, pct)
    poc, lo, hi = dual_price_value_area(volumes, pct)
    assert (r["poc"], r["val"], r["vah"]) == (100.0 + poc, 100.0 + lo, 100.0 + hi)
    assert r["value_area_volume"] * 100 >= pct * r["total_volume"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.integers(-20, 20), st.integers(1, 500), st.sampled_from([-1, 1])),
        min_size=1,
        max_size=200,
    )
)
def test_it_profiles_generated_trades_like_the_reference(rows):
    price = np.array([61000 + k * 0.01 for k, _, _ in rows])
    size = np.array([q * 1e-5 for _, q, _ in rows])
    side = np.array([s for *_, s in rows])
    r = volume_profile_from_trades(price, size, side, row_size=0.02)
    poc, vah, val, total = _reference_profile(price, size, 0.02)
    assert (Decimal(repr(r["poc"])), Decimal(repr(r["vah"])), Decimal(repr(r["val"]))) == (
        poc,
        vah,
        val,
    )
    assert Decimal(repr(r["total_volume"])) == total.quantize(Decimal("1e-9"))


# ------------------------------------------------------------------ developing and more


def test_it_develops_poc_and_value_area_bar_by_bar():
    btc = btc_trades()
    cols, fp = minute_rows(btc["ts_ns"], btc["price"], btc["size"], btc["side"], 0.01)
    dev = developing_profile(
        cols["bar_ts"],
        cols["price"],
        cols["bid_volume"],
        cols["ask_volume"],
        timeframe=60,
        row_size=1.0,
    )
    series = dev["series"]
    assert [s["time"] for s in series] == [b["time"] for b in fp["bars"]]
    for i, point in enumerate(series):
        upto = np.array(cols["bar_ts"]) <= point["time"]
        whole = volume_profile_from_rows(
            np.array(cols["price"])[upto],
            np.array(cols["bid_volume"])[upto],
            np.array(cols["ask_volume"])[upto],
            row_size=1.0,
        )
        assert (point["poc"], point["vah"], point["val"]) == (
            whole["poc"],
            whole["vah"],
            whole["val"],
        ), i
        assert point["volume"] == whole["total_volume"]


def test_it_restarts_the_developing_profile_each_session():
    bar_ts = [0, 60, 120, 180]
    price = [10.0, 12.0, 20.0, 21.0]
    dev = developing_profile(
        bar_ts,
        price,
        [1, 1, 1, 1],
        [1, 5, 1, 1],
        timeframe=60,
        row_size=1.0,
        session_starts=[0, 120],
    )
    points = [(s["session_start"], s["poc"], s["volume"]) for s in dev["series"]]
    assert points == [(0, 10.0, 2.0), (0, 12.0, 8.0), (120, 20.0, 2.0), (120, 20.0, 4.0)]
    summary = session_profiles(
        bar_ts, price, [1, 1, 1, 1], [1, 5, 1, 1], session_starts=[0, 120], row_size=1.0
    )
    assert [(s["session_start"], s["poc"], s["total_volume"]) for s in summary["sessions"]] == [
        (0, 12.0, 8.0),
        (120, 20.0, 4.0),
    ]


def test_it_tracks_which_pocs_are_still_naked():
    result = naked_pocs(
        poc_time=[100, 200, 300],
        poc=[50.0, 60.0, 55.0],
        time=[150, 250, 350, 450],
        high=[51.0, 58.0, 57.0, 54.0],
        low=[49.0, 56.0, 54.0, 53.0],
    )
    # POC 50 (final at 100): the bar at 150 spans it. POC 60: nothing later reaches 60.
    # POC 55 (final at 300): the bar at 250 would touch it but is earlier; 350 touches it.
    assert [(r["poc"], r["naked"], r["touched_time"]) for r in result["pocs"]] == [
        (50.0, False, 150),
        (60.0, True, None),
        (55.0, False, 350),
    ]


def test_it_finds_high_and_low_volume_nodes():
    volume = np.array([1, 2, 8, 9, 8, 2, 1, 1, 2, 7, 10, 7, 2, 1], dtype=float)
    hvn, lvn, smooth = volume_nodes(volume, smoothing=3, hvn_threshold=0.6, lvn_threshold=0.3)
    assert hvn.tolist() == [3, 10]
    assert lvn.tolist() == [6]  # the valley between the two (a plateau of 1, 1 at 6-7)
    assert smooth.shape == volume.shape
    r = _profile(volume.tolist())
    hvn5, lvn5, _ = volume_nodes(volume)  # the profile's defaults: 5 rows, 0.6, 0.3
    assert [n["price"] for n in r["hvn"]] == [100.0 + i for i in hvn5.tolist()]
    assert [n["price"] for n in r["lvn"]] == [100.0 + i for i in lvn5.tolist()]
    assert r["method"]["nodes"]["smoothing_rows"] == 5
