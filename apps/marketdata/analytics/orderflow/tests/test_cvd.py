import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.marketdata.analytics.orderflow import (
    cvd_candles,
    cvd_from_trades,
    footprint_from_trades,
    trade_bars,
)

from ._data import btc_trades, es_trades
from ._reference import close, running_delta_extremes, tick_rule


def _check_candles(bars, resets=()):
    for i, bar in enumerate(bars):
        expected_open = 0.0 if i == 0 or i in resets else bars[i - 1]["close"]
        assert bar["open"] == expected_open
        assert bar["close"] == bar["open"] + bar["delta"]
        assert bar["low"] <= min(bar["open"], bar["close"])
        assert bar["high"] >= max(bar["open"], bar["close"])


@pytest.mark.parametrize("timeframe", [1, 15, 60])
def test_it_builds_binance_cvd_candles_by_the_definition(timeframe):
    btc = btc_trades()
    result = cvd_from_trades(
        btc["ts_ns"], btc["price"], btc["size"], btc["side"], timeframe=timeframe
    )
    bars = result["bars"]
    _check_candles(bars)
    ref = running_delta_extremes(btc["ts_ns"], btc["size"], btc["side"], timeframe)
    assert [b["time"] for b in bars] == sorted(ref)
    for bar in bars:
        d, hi, lo = ref[bar["time"]]
        assert close(bar["delta"], d, 1e-7)
        assert close(bar["high"], bar["open"] + hi, 1e-7)
        assert close(bar["low"], bar["open"] + lo, 1e-7)
    buys = btc["size"][btc["side"] > 0].sum()
    sells = btc["size"][btc["side"] < 0].sum()
    assert close(bars[-1]["close"], buys - sells, 1e-9)
    assert buys - sells < 0  # this window was sold: the sign is ask - bid, not bid - ask
    assert result["method"]["name"] == "cumulative_delta_bars"


def test_it_agrees_with_the_footprint_bar_deltas():
    btc = btc_trades()
    fp = footprint_from_trades(
        btc["ts_ns"], btc["price"], btc["size"], btc["side"], timeframe=60, row_size=1.0
    )
    cvd = cvd_from_trades(btc["ts_ns"], btc["price"], btc["size"], btc["side"], timeframe=60)
    for f, c in zip(fp["bars"], cvd["bars"], strict=True):
        assert f["time"] == c["time"]
        assert close(f["delta"], c["delta"], 1e-9)
        assert close(f["delta_high"], c["high"] - c["open"], 1e-9)
        assert close(f["delta_low"], c["low"] - c["open"], 1e-9)


def test_it_merges_minute_bars_into_the_same_candles_as_trades():
    es = es_trades()
    minute = trade_bars(es["ts_ns"], es["price"], es["size"], es["side"], timeframe=60)
    merged = cvd_candles(
        minute["time"],
        minute["delta"],
        minute["delta_high"],
        minute["delta_low"],
        timeframe=300,
        high=minute["high"],
        low=minute["low"],
    )
    direct = cvd_from_trades(es["ts_ns"], es["price"], es["size"], es["side"], timeframe=300)
    assert merged["bars"] == direct["bars"]
    assert [(b["open"], b["high"], b["low"], b["close"]) for b in direct["bars"]] == [
        (0.0, 17.0, 0.0, 11.0),
        (11.0, 49.0, 11.0, 31.0),
    ]


def test_it_resets_at_each_session_start():
    result = cvd_candles(
        [0, 60, 120, 180], [5.0, -2.0, 3.0, 4.0], session_id=[1, 1, 2, 2], reset="session"
    )
    _check_candles(result["bars"], resets={2})
    assert [b["close"] for b in result["bars"]] == [5.0, 3.0, 3.0, 7.0]
    starts = cvd_candles(
        [0, 60, 120, 180], [5.0, -2.0, 3.0, 4.0], session_starts=[0, 100], reset="session"
    )
    assert starts["bars"] == result["bars"]
    none = cvd_candles([0, 60, 120, 180], [5.0, -2.0, 3.0, 4.0], session_id=[1, 1, 2, 2])
    assert [b["close"] for b in none["bars"]] == [5.0, 3.0, 6.0, 10.0]


def test_it_needs_sessions_to_reset_by_session():
    with pytest.raises(ValueError):
        cvd_candles([0], [1.0], reset="session")


def test_it_takes_missing_extremes_from_the_close():
    bars = cvd_candles([0, 60], [3.0, -5.0])["bars"]
    assert [(b["open"], b["high"], b["low"], b["close"]) for b in bars] == [
        (0.0, 3.0, 0.0, 3.0),
        (3.0, 3.0, -2.0, -2.0),
    ]


def test_it_flags_a_bearish_divergence_when_cvd_makes_a_lower_high():
    # Price highs rise 10, 11, 12, 13; CVD spikes to 18 inside bar 2, then bar 3's CVD high
    # is only 15: a higher price high with a lower CVD high.
    result = cvd_candles(
        [0, 60, 120, 180],
        [5.0, 5.0, 5.0, -1.0],
        [5.0, 5.0, 8.0, 0.0],
        [0.0, 0.0, 0.0, -1.0],
        high=[10.0, 11.0, 12.0, 13.0],
        low=[9.0, 10.0, 11.0, 12.0],
        lookback=3,
    )
    flags = [(b["bearish_divergence"], b["bullish_divergence"]) for b in result["bars"]]
    assert flags == [(False, False), (False, False), (False, False), (True, False)]
    assert result["method"]["divergence"]["lookback"] == 3


def test_it_flags_a_bullish_divergence_when_cvd_makes_a_higher_low():
    result = cvd_candles(
        [0, 60, 120, 180],
        [-5.0, -5.0, -5.0, 1.0],
        [0.0, 0.0, 0.0, 1.0],
        [-5.0, -5.0, -8.0, 0.0],
        high=[10.0, 9.0, 8.0, 7.0],
        low=[9.0, 8.0, 7.0, 6.0],
        lookback=2,
    )
    flags = [(b["bearish_divergence"], b["bullish_divergence"]) for b in result["bars"]]
    assert flags == [(False, False), (False, False), (False, False), (False, True)]


def test_it_looks_back_only_inside_the_lookback_and_the_session():
    args = dict(
        delta=[5.0, 5.0, 5.0, -1.0],
        delta_high=[5.0, 5.0, 8.0, 0.0],
        delta_low=[0.0, 0.0, 0.0, -1.0],
        high=[10.0, 11.0, 12.0, 13.0],
        low=[9.0, 10.0, 11.0, 12.0],
    )
    # The CVD spike in bar 2 is in another session than bar 3: no divergence.
    result = cvd_candles([0, 60, 120, 180], session_id=[1, 1, 1, 2], reset="session", **args)
    assert not any(b["bearish_divergence"] for b in result["bars"])


trade_lists = st.lists(
    st.tuples(
        st.integers(0, 600), st.integers(-8, 8), st.integers(1, 50), st.sampled_from([-1, 0, 1])
    ),
    min_size=1,
    max_size=150,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trade_lists, st.sampled_from([1, 30, 60, 120]), st.booleans())
def test_it_keeps_generated_cvd_candles_consistent(rows, timeframe, with_sessions):
    rows = sorted(rows, key=lambda r: r[0])
    ts = np.array([1_700_000_000 * 10**9 + s * 10**9 for s, *_ in rows], dtype=np.int64)
    price = np.array([100 + k * 0.1 for _, k, _, _ in rows])
    size = np.array([q / 100 for _, _, q, _ in rows])
    side = np.array([s for *_, s in rows], dtype=np.int8)
    sessions = [1_700_000_000, 1_700_000_300] if with_sessions else None
    result = cvd_from_trades(
        ts,
        price,
        size,
        side,
        timeframe=timeframe,
        session_starts=sessions,
        reset="session" if with_sessions else "none",
        lookback=3,
    )
    bars = result["bars"]
    resets = set()
    if with_sessions:
        # A bar's session: the latest start at or before the bar's start (-1 before all).
        sess = [sum(b["time"] >= s for s in sessions) - 1 for b in bars]
        resets = {i for i in range(1, len(bars)) if sess[i] != sess[i - 1]}
    _check_candles(bars, resets)
    ref = running_delta_extremes(ts, size, tick_rule(price.tolist(), side.tolist()), timeframe)
    for bar in bars:
        d, hi, lo = ref[bar["time"]]
        assert close(bar["delta"], d) and close(bar["high"] - bar["open"], hi)
        assert close(bar["low"] - bar["open"], lo)
