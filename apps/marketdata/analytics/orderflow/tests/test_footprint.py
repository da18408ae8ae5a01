from collections import defaultdict
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.marketdata.analytics.orderflow import (
    bucket,
    classify_aggressor,
    footprint_from_rows,
    footprint_from_trades,
    trade_bars,
)

from ._data import es_bars, es_trades, minute_rows
from ._reference import close, footprint_dict, row_of, running_delta_extremes, tick_rule

MINUTES = {
    "23:58": 1719878280,
    "23:59": 1719878340,
    "00:00": 1719878400,
    "00:01": 1719878460,
}


def _levels(result):
    """{(bar, Decimal price): (bid, ask, trades)} from a footprint response."""
    return {
        (bar["time"], Decimal(repr(lv["price"]))): (
            lv["bid_volume"],
            lv["ask_volume"],
            lv["trades"],
        )
        for bar in result["bars"]
        for lv in bar["levels"]
    }


# ------------------------------------------------------------------------------- bucket


@pytest.mark.parametrize(
    ("price", "row", "expected"),
    [
        (5528.75, 0.25, 5528.75),
        (5528.74, 0.25, 5528.5),
        (5529.0, 1.0, 5529.0),
        (0.3, 0.1, 0.3),  # 0.3 / 0.1 == 2.9999999999999996 in float64
        (61837.63, 0.01, 61837.63),
        (61837.63, 0.05, 61837.6),
        (61837.63, 10.0, 61830.0),
        (1.15, 0.05, 1.15),
        (-0.3, 0.1, -0.3),
        (-0.31, 0.1, -0.4),
    ],
)
def test_it_buckets_prices_onto_the_row_grid(price, row, expected):
    assert bucket(price, row) == expected


@given(st.integers(-(10**7), 10**8), st.sampled_from([0.25, 0.01, 0.1, 0.05, 0.00001, 5.0]))
def test_it_keeps_every_grid_price_in_its_own_row(ticks, row):
    price = float(Decimal(ticks) * Decimal(repr(row)))
    assert Decimal(repr(bucket(price, row))) == row_of(price, row)


def test_it_buckets_arrays():
    got = bucket(np.array([5528.5, 5528.6, 5528.75, 5529.0]), 0.25)
    assert got.tolist() == [5528.5, 5528.5, 5528.75, 5529.0]


# --------------------------------------------------------------------------- ES golden


def test_it_aggregates_the_es_file_per_minute_like_a_direct_count():
    es = es_trades()
    result = footprint_from_trades(
        es["ts_ns"], es["price"], es["size"], es["side"], timeframe=60, row_size=0.25
    )
    expected = footprint_dict(es["ts_ns"], es["price"], es["size"], es["side"], 60, 0.25)
    got = _levels(result)
    assert set(got) == set(expected)
    for key, (bid, ask, n) in expected.items():
        assert got[key] == (bid, ask, n)
    for bar in result["bars"]:
        for lv in bar["levels"]:
            assert lv["delta"] == lv["ask_volume"] - lv["bid_volume"]
    assert result["method"]["inferred_sides"] == 0


def test_it_reports_the_es_per_minute_buy_sell_totals():
    es = es_trades()
    # The file's aggressor codes are B/A only: no 'N' trade needs the tick rule.
    assert set(es["code"].tolist()) == {"A", "B"}
    result = footprint_from_trades(
        es["ts_ns"], es["price"], es["size"], es["side"], timeframe=60, row_size=0.25
    )
    totals = {b["time"]: (b["ask_volume"], b["bid_volume"]) for b in result["bars"]}
    assert totals == {
        MINUTES["23:58"]: (14.0, 4.0),
        MINUTES["23:59"]: (12.0, 11.0),
        MINUTES["00:00"]: (103.0, 72.0),
        MINUTES["00:01"]: (13.0, 24.0),
    }


def test_it_shows_what_the_tick_rule_alone_would_give_on_the_es_file():
    # Classifying every ES trade by the tick rule (ignoring the feed) gives very different
    # totals from the exchange's aggressor flags: the rule is a fallback, not a substitute.
    es = es_trades()
    sides = classify_aggressor(es["price"])
    assert sides.tolist() == tick_rule(es["price"].tolist(), [0] * len(sides))
    result = footprint_from_trades(
        es["ts_ns"], es["price"], es["size"], None, timeframe=60, row_size=0.25
    )
    totals = {b["time"]: (b["ask_volume"], b["bid_volume"]) for b in result["bars"]}
    assert totals == {
        MINUTES["23:58"]: (17.0, 1.0),
        MINUTES["23:59"]: (21.0, 2.0),
        MINUTES["00:00"]: (162.0, 13.0),
        MINUTES["00:01"]: (1.0, 36.0),
    }
    assert result["method"]["inferred_sides"] == len(sides)


def test_it_classifies_unknown_es_sides_by_the_tick_rule():
    es = es_trades()
    hidden = es["side"].copy()
    hidden[::3] = 0  # pretend the feed lost every third side
    expected_sides = tick_rule(es["price"].tolist(), hidden.tolist())
    result = footprint_from_trades(
        es["ts_ns"], es["price"], es["size"], hidden, timeframe=60, row_size=0.25
    )
    expected = footprint_dict(es["ts_ns"], es["price"], es["size"], expected_sides, 60, 0.25)
    assert _levels(result) == {k: tuple(v) for k, v in expected.items()}
    assert result["method"]["inferred_sides"] == int(np.count_nonzero(hidden == 0))


def test_it_matches_databentos_own_es_minute_bars():
    es = es_trades()
    result = footprint_from_trades(
        es["ts_ns"], es["price"], es["size"], es["side"], timeframe=60, row_size=0.25
    )
    bars = es_bars()
    for bar in result["bars"]:
        ref = bars[bar["time"]]
        assert bar["volume"] == ref["volume"]
        assert (bar["high"], bar["low"]) == (ref["high"], ref["low"])


def test_it_computes_es_running_delta_extremes_from_trades():
    es = es_trades()
    result = footprint_from_trades(
        es["ts_ns"], es["price"], es["size"], es["side"], timeframe=60, row_size=0.25
    )
    ref = running_delta_extremes(es["ts_ns"], es["size"], es["side"], 60)
    for bar in result["bars"]:
        assert (bar["delta"], bar["delta_high"], bar["delta_low"]) == ref[bar["time"]]


def _minute_rows(ts_ns, price, size, side, row_size):
    """What the store keeps: 1-minute footprint rows plus 1-minute delta extremes."""
    cols, _ = minute_rows(ts_ns, price, size, side, row_size)
    return cols, trade_bars(ts_ns, price, size, side, timeframe=60)


def _from_rows(cols, bars=None, **options):
    """``footprint_from_rows`` of ``_minute_rows``' columns, with the 1-minute delta
    extremes of ``bars`` when given."""
    if bars is not None:
        options |= {
            "delta_time": bars["time"],
            "delta_high": bars["delta_high"],
            "delta_low": bars["delta_low"],
        }
    return footprint_from_rows(
        cols["bar_ts"],
        cols["price"],
        cols["bid_volume"],
        cols["ask_volume"],
        cols["trades"],
        **options,
    )


def test_it_builds_the_same_five_minute_es_footprint_from_minute_rows():
    es = es_trades()
    cols, bars = _minute_rows(es["ts_ns"], es["price"], es["size"], es["side"], 0.25)
    for row in (0.25, 0.5, 1.0):
        direct = footprint_from_trades(
            es["ts_ns"], es["price"], es["size"], es["side"], timeframe=300, row_size=row
        )
        rows = _from_rows(cols, bars, timeframe=300, row_size=row)
        assert rows["bars"] == direct["bars"]
        assert rows["method"]["delta_extremes"] == "source_bars"


def test_it_falls_back_to_minute_closes_for_delta_extremes_without_minute_bars():
    es = es_trades()
    cols, _ = _minute_rows(es["ts_ns"], es["price"], es["size"], es["side"], 0.25)
    rows = _from_rows(cols, timeframe=300, row_size=0.25)
    assert rows["method"]["delta_extremes"] == "source_bar_closes"
    # Minute deltas +10, +1 | +31, -11: running closes 10, 11 in the 23:55 bar and 31, 20
    # in the 00:00 bar. Trades show the true extremes reach further (17 and 38).
    assert [(b["delta_high"], b["delta_low"]) for b in rows["bars"]] == [(11.0, 0.0), (31.0, 0.0)]
    direct = footprint_from_trades(
        es["ts_ns"], es["price"], es["size"], es["side"], timeframe=300, row_size=0.25
    )
    assert [(b["delta_high"], b["delta_low"]) for b in direct["bars"]] == [(17.0, 0.0), (38.0, 0.0)]


# ---------------------------------------------------------------------- property tests

trade_lists = st.lists(
    st.tuples(
        st.integers(0, 900),  # seconds from the start
        st.integers(-12, 12),  # ticks from 100
        st.integers(1, 40),  # size in lots of 0.001
        st.sampled_from([-1, 0, 1]),
    ),
    min_size=1,
    max_size=120,
)


def _arrays(rows, tick):
    rows = sorted(rows, key=lambda r: r[0])
    t0 = 1_700_000_000 * 10**9
    ts = np.array([t0 + s * 10**9 + i for i, (s, *_rest) in enumerate(rows)], dtype=np.int64)
    price = np.array(
        [float(Decimal(100) + Decimal(k) * Decimal(repr(tick))) for _, k, _, _ in rows]
    )
    size = np.array([q / 1000 for _, _, q, _ in rows])
    side = np.array([s for *_rest, s in rows], dtype=np.int8)
    return ts, price, size, side


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trade_lists, st.sampled_from([0.25, 0.01]), st.sampled_from([1, 2, 4]))
def test_it_aggregates_generated_trades_like_a_direct_count(rows, tick, ticks_per_row):
    ts, price, size, side = _arrays(rows, tick)
    row = float(Decimal(repr(tick)) * ticks_per_row)
    result = footprint_from_trades(ts, price, size, side, timeframe=60, row_size=row)
    classified = tick_rule(price.tolist(), side.tolist())
    expected = footprint_dict(ts, price, size, classified, 60, row)
    got = _levels(result)
    assert set(got) == set(expected)
    for key, (bid, ask, n) in expected.items():
        assert close(got[key][0], bid) and close(got[key][1], ask) and got[key][2] == n
    extremes = running_delta_extremes(ts, size, classified, 60)
    for bar in result["bars"]:
        d, hi, lo = extremes[bar["time"]]
        assert (
            close(bar["delta"], d) and close(bar["delta_high"], hi) and close(bar["delta_low"], lo)
        )
        assert (
            bar["delta_low"]
            <= min(0.0, bar["delta"])
            <= max(0.0, bar["delta"])
            <= bar["delta_high"]
        )
        prices = [lv["price"] for lv in bar["levels"]]
        assert prices == sorted(prices) and bar["low"] == prices[0] and bar["high"] == prices[-1]
        # POC: the largest total; ties nearest the middle of the range, then the lower.
        # Decimal prices: in binary floats the two sides of the middle may not be equally far.
        vols = {
            Decimal(repr(lv["price"])): lv["bid_volume"] + lv["ask_volume"] for lv in bar["levels"]
        }
        best = max(vols.values())
        mid = (min(vols) + max(vols)) / 2
        tied = [p for p in sorted(vols) if close(vols[p], best)]
        assert Decimal(repr(bar["poc"])) == min(tied, key=lambda p: (abs(p - mid), p))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trade_lists, st.sampled_from([60, 180, 300, 900]))
def test_it_builds_generated_footprints_identically_from_minute_rows(rows, timeframe):
    ts, price, size, side = _arrays(rows, 0.25)
    side = classify_aggressor(price, side)
    cols, bars = _minute_rows(ts, price, size, side, 0.25)
    direct = footprint_from_trades(ts, price, size, side, timeframe=timeframe, row_size=0.5)
    stored = _from_rows(cols, bars, timeframe=timeframe, row_size=0.5)
    assert stored["bars"] == direct["bars"]
    assert stored["stacked_zones"] == direct["stacked_zones"]


# ------------------------------------------------------------------------- imbalances


def _bar(levels, *, mode="diagonal", ratio=3.0, min_volume=1.0, stack=3, times=None):
    """One-row-per-level footprint from {price: (bid, ask)} dicts, one dict per bar."""
    cols = defaultdict(list)
    seq = levels if isinstance(levels, list) else [levels]
    for i, lv in enumerate(seq):
        for p, (bid, ask) in lv.items():
            cols["t"].append((times or [60 * j for j in range(len(seq))])[i])
            cols["p"].append(p)
            cols["b"].append(bid)
            cols["a"].append(ask)
    return footprint_from_rows(
        cols["t"],
        cols["p"],
        cols["b"],
        cols["a"],
        timeframe=60,
        row_size=1.0,
        mode=mode,
        ratio=ratio,
        min_volume=min_volume,
        stack=stack,
    )


def _imbalances(result, bar=0):
    return sorted((i["price"], i["side"]) for i in result["bars"][bar]["imbalances"])


def test_it_flags_diagonal_buy_imbalances_against_the_bid_one_row_below():
    # ask(101) = 30 >= 3 * bid(100) = 30 (equality counts); ask(102) = 5 < 3 * bid(101) = 6.
    result = _bar({100: (10, 0), 101: (2, 30), 102: (1, 5)})
    assert _imbalances(result) == [(101.0, "buy")]
    imb = result["bars"][0]["imbalances"][0]
    assert imb["compared_price"] == 100.0 and imb["ratio"] == 3.0


def test_it_flags_diagonal_sell_imbalances_against_the_ask_one_row_above():
    # bid(100) = 12 >= 3 * ask(101) = 12; bid(101) = 5 < 3 * ask(102) = 6.
    result = _bar({100: (12, 0), 101: (5, 4), 102: (0, 2)})
    assert _imbalances(result) == [(100.0, "sell")]
    assert result["bars"][0]["imbalances"][0]["compared_price"] == 101.0


def test_it_counts_a_zero_compared_side_only_from_the_minimum_volume():
    levels = {100: (0, 0.5), 101: (0, 2)}  # bid(100) = 0 below ask(101) = 2
    assert _imbalances(_bar(levels, min_volume=2)) == [(101.0, "buy")]
    assert _imbalances(_bar(levels, min_volume=2.5)) == []
    assert _bar(levels, min_volume=2)["bars"][0]["imbalances"][0]["ratio"] is None


def test_it_never_flags_an_imbalance_of_zero_against_zero():
    assert _imbalances(_bar({100: (0, 0), 101: (0, 0), 102: (0, 0)}, min_volume=0.001)) == []
    assert _imbalances(_bar({100: (0, 0), 101: (0, 0), 102: (0, 0)}, min_volume=0)) == []


def test_it_counts_any_volume_against_a_zero_when_the_minimum_is_zero():
    levels = {100: (0, 0.5), 101: (0, 2)}
    assert _imbalances(_bar(levels, min_volume=0)) == [(101.0, "buy")]


def test_it_compares_an_untraded_row_inside_the_range_as_zero():
    # Row 101 did not trade: ask(102) = 4 faces bid(101) = 0; bid(100) = 5 faces ask(101) = 0.
    result = _bar({100: (5, 1), 102: (1, 4)}, min_volume=4)
    assert _imbalances(result) == [(100.0, "sell"), (102.0, "buy")]


def test_it_does_not_compare_the_extreme_rows_outside_the_bar():
    # Bottom row: no bid below it; top row: no ask above it, so no imbalance there.
    assert _imbalances(_bar({100: (0, 50), 101: (50, 0)})) == []


def test_it_compares_ask_and_bid_of_the_same_row_in_horizontal_mode():
    levels = {100: (1, 3), 101: (9, 3), 102: (1, 2), 103: (0, 1)}
    assert _imbalances(_bar(levels, mode="horizontal")) == [
        (100.0, "buy"),
        (101.0, "sell"),
        (103.0, "buy"),
    ]
    assert _imbalances(_bar(levels, mode="horizontal", ratio=2.0)) == [
        (100.0, "buy"),
        (101.0, "sell"),
        (102.0, "buy"),
        (103.0, "buy"),
    ]


def test_it_states_the_imbalance_method():
    method = _bar({100: (1, 1)}, mode="horizontal", ratio=2.5)["method"]["imbalance"]
    assert (method["mode"], method["ratio"], method["min_volume"]) == ("horizontal", 2.5, 1.0)
    assert method["stacked"]["min_rows"] == 3


def test_it_rejects_unknown_modes():
    with pytest.raises(ValueError):
        _bar({100: (1, 1)}, mode="vertical")


STACK = {100: (1, 1), 101: (1, 9), 102: (1, 9), 103: (1, 9), 104: (1, 9), 105: (30, 1)}


def test_it_reports_a_run_of_three_or_more_imbalances_as_one_zone():
    result = _bar(STACK)
    # ask(101..104) = 9 >= 3 * bid below = 3: four buy imbalances; bid(105) = 30 faces no
    # ask above (top row); bid(104) = 1 < 3 * ask(105) = 3.
    assert _imbalances(result) == [(p, "buy") for p in (101.0, 102.0, 103.0, 104.0)]
    zones = result["stacked_zones"]
    assert len(zones) == 1
    zone = zones[0]
    assert (zone["direction"], zone["price_low"], zone["bar_time"]) == ("buy", 101.0, 0)
    assert zone["price_high"] == 104.0 and zone["rows"] == 4
    assert zone["active"] and zone["invalidated_time"] is None
    assert result["bars"][0]["stacked_imbalances"] == zones


def test_it_needs_the_configured_number_of_rows_for_a_stack():
    two = {100: (1, 1), 101: (1, 9), 102: (1, 9), 103: (9, 1)}
    assert _bar(two)["stacked_zones"] == []
    assert len(_bar(two, stack=2)["stacked_zones"]) == 1


def test_it_keeps_a_buy_zone_until_a_later_bar_trades_below_it():
    later_inside = {101: (1, 1), 106: (1, 1)}  # low 101 = price_low: not through
    through = {100: (1, 1), 103: (1, 1)}  # low 100 < price_low 101
    result = _bar([STACK, later_inside], times=[0, 60])
    assert result["stacked_zones"][0]["active"]
    result = _bar([STACK, later_inside, through, later_inside], times=[0, 60, 120, 180])
    zone = result["stacked_zones"][0]
    assert not zone["active"] and zone["invalidated_time"] == 120


def test_it_keeps_a_sell_zone_until_a_later_bar_trades_above_it():
    sells = {100: (9, 1), 101: (9, 1), 102: (9, 1), 103: (1, 1)}
    zone = _bar(sells)["stacked_zones"][0]
    assert (zone["direction"], zone["price_low"], zone["price_high"]) == ("sell", 100.0, 102.0)
    result = _bar([sells, {99: (1, 1), 102: (1, 1)}, {103: (1, 1)}], times=[0, 60, 120])
    zone = result["stacked_zones"][0]
    assert zone["invalidated_time"] == 120 and not zone["active"]


def test_it_returns_an_empty_footprint_for_no_trades():
    empty = footprint_from_trades([], [], [], [], timeframe=60, row_size=0.25)
    assert empty["bars"] == [] and empty["stacked_zones"] == []
