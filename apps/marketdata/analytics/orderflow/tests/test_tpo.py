import numpy as np
import pytest

from apps.marketdata.analytics.orderflow import (
    market_profile_from_bars,
    market_profile_from_trades,
    period_letter,
)

S1 = 1_719_878_400  # session starts (epoch s)
S2 = S1 + 86_400
HALF = 1800

# Session 1, one 30-minute period per (low, high): letters by construction
#   110 E          109 E          108 CE        107 C         106 BC
#   105 BCD        104 ABD        103 ABD       102 AB        101 AB        100 A
SESSION_1 = [(100, 104), (101, 106), (105, 108), (103, 105), (108, 110)]
# Session 2: A and B span 200-202, C only 201: 2+ letters at both extremes (poor).
SESSION_2 = [(200, 202), (200, 202), (201, 201)]


def _bars(start, periods, split=1):
    """Bars of HALF/split seconds; each period's range spread over its bars."""
    time, high, low = [], [], []
    for i, (lo, hi) in enumerate(periods):
        for j in range(split):
            time.append(start + i * HALF + j * HALF // split)
            # first bar carries the low, last bar the high, middle bars sit inside
            low.append(lo if j == 0 else (lo + hi) / 2)
            high.append(hi if j == split - 1 else (lo + hi) / 2)
    return time, high, low


def _both_sessions(split=1):
    t1, h1, l1 = _bars(S1, SESSION_1, split)
    t2, h2, l2 = _bars(S2, SESSION_2, split)
    return t1 + t2, h1 + h2, l1 + l2


def _sessions(**kw):
    t, h, lo = _both_sessions(kw.pop("split", 1))
    return market_profile_from_bars(t, h, lo, session_starts=[S1, S2], row_size=1.0, **kw)


def test_it_prints_each_periods_letter_on_every_row_it_touched():
    first = _sessions()["sessions"][0]
    letters = {r["price"]: r["letters"] for r in first["rows"]}
    assert letters == {
        100.0: "A",
        101.0: "AB",
        102.0: "AB",
        103.0: "ABD",
        104.0: "ABD",
        105.0: "BCD",
        106.0: "BC",
        107.0: "C",
        108.0: "CE",
        109.0: "E",
        110.0: "E",
    }
    assert [r["count"] for r in first["rows"]] == [1, 2, 2, 3, 3, 3, 2, 1, 2, 1, 1]
    assert first["tpo_count"] == 21
    assert [p["letter"] for p in first["periods"]] == ["A", "B", "C", "D", "E"]
    assert first["periods"][2]["start"] == S1 + 2 * HALF


def test_it_groups_smaller_bars_into_their_periods():
    assert _sessions(split=6)["sessions"] == _sessions()["sessions"]


def test_it_finds_the_tpo_poc_and_value_area():
    first, second = _sessions()["sessions"]
    # Three rows tie with 3 letters (103-105); 105 is the middle of 100-110.
    # VA (70% of 21 = 14.7): 3, +6 below (104,103), +4 below (102,101), +3 above
    # (106,107) against 1 below (100) = 16.
    assert (first["poc"], first["val"], first["vah"]) == (105.0, 101.0, 107.0)
    assert first["value_area_count"] == 16
    # Session 2: 3 at 201; 202 (2) ties 200 (2): the upper pair is added, 5 >= 4.9.
    assert (second["poc"], second["val"], second["vah"]) == (201.0, 201.0, 202.0)


def test_it_measures_the_initial_balance_and_its_extensions():
    first = _sessions()["sessions"][0]
    ib = first["initial_balance"]
    assert (ib["high"], ib["low"], ib["range"], ib["complete"]) == (106.0, 100.0, 6.0, True)
    assert ib["extensions"] == {
        "up_1_5x": 109.0,
        "up_2x": 112.0,
        "down_1_5x": 97.0,
        "down_2x": 94.0,
    }
    assert first["range_extension"] == {
        "up": True,
        "down": False,
        "up_letter": "C",
        "down_letter": None,
    }
    second = _sessions()["sessions"][1]
    assert second["range_extension"]["up"] is False and second["range_extension"]["down"] is False


def test_it_lists_single_prints_and_tails():
    first = _sessions()["sessions"][0]
    assert first["single_prints"] == [100.0, 107.0, 109.0, 110.0]
    assert first["single_print_runs"] == [
        {"price_low": 100.0, "price_high": 100.0, "rows": 1, "kind": "excess_low"},
        {"price_low": 107.0, "price_high": 107.0, "rows": 1, "kind": "internal"},
        {"price_low": 109.0, "price_high": 110.0, "rows": 2, "kind": "excess_high"},
    ]
    assert (first["poor_high"], first["poor_low"]) == (False, False)


def test_it_flags_poor_highs_and_lows():
    second = _sessions()["sessions"][1]
    assert [r["letters"] for r in second["rows"]] == ["AB", "ABC", "AB"]
    assert second["single_prints"] == []
    assert (second["poor_high"], second["poor_low"]) == (True, True)


def test_it_builds_the_same_profile_from_trades():
    t, h, lo = _both_sessions()
    ts = np.repeat(np.array(t, dtype=np.int64) * 10**9, 2) + np.tile([0, 10**9], len(t))
    price = np.ravel(np.column_stack([lo, h]))
    trades = market_profile_from_trades(ts, price, session_starts=[S1, S2], row_size=1.0)
    bars = _sessions()
    assert trades["sessions"] == bars["sessions"]
    assert trades["method"]["source"] == "trades"


def test_it_merges_sessions_into_one_profile():
    merged = _sessions(merge=True)["sessions"]
    assert len(merged) == 1
    m = merged[0]
    assert m["sessions"] == 2 and m["tpo_count"] == 28
    letters = {r["price"]: r["letters"] for r in m["rows"]}
    assert letters[201.0] == "ABC" and letters[105.0] == "BCD" and letters[150.0] == ""
    assert m["low"] == 100.0 and m["high"] == 202.0
    assert m["initial_balance"] is None and m["range_extension"] is None


def test_it_reports_an_incomplete_initial_balance():
    t, h, lo = _bars(S1, [(100, 101)])
    only_a = market_profile_from_bars(t, h, lo, session_starts=S1, row_size=1.0)["sessions"][0]
    assert only_a["initial_balance"]["complete"] is False
    assert only_a["range_extension"]["up"] is False


def test_it_ignores_bars_outside_the_sessions():
    t, h, lo = _both_sessions()
    before = market_profile_from_bars(
        [S1 - 60, *t],
        [500.0, *h],
        [499.0, *lo],
        session_starts=[S1, S2],
        session_ends=[S1 + 5 * HALF, S2 + 3 * HALF],
        row_size=1.0,
    )
    assert before["sessions"] == _sessions()["sessions"]
    cut = market_profile_from_bars(
        t, h, lo, session_starts=[S1, S2], session_ends=[S1 + 2 * HALF, S2 + HALF], row_size=1.0
    )
    assert [p["letter"] for p in cut["sessions"][0]["periods"]] == ["A", "B"]


def test_it_letters_periods_a_to_z_then_lowercase():
    assert [period_letter(i) for i in (0, 25, 26, 51, 52)] == ["A", "Z", "a", "z", "A"]


def test_it_uses_the_period_length_for_letters():
    t, h, lo = _bars(S1, SESSION_1)
    hourly = market_profile_from_bars(t, h, lo, session_starts=S1, row_size=1.0, period_minutes=60)
    first = hourly["sessions"][0]
    assert [p["letter"] for p in first["periods"]] == ["A", "B", "C"]
    assert {r["price"]: r["letters"] for r in first["rows"]}[105.0] == "AB"
    assert hourly["method"]["period_minutes"] == 60


def test_it_rejects_bad_parameters():
    with pytest.raises(ValueError):
        market_profile_from_bars([S1], [1.0], [2.0], session_starts=S1, row_size=1.0)
    with pytest.raises(ValueError):
        market_profile_from_bars([S1], [2.0], [1.0], session_starts=S1, row_size=0.0)
