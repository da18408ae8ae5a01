"""warmup_bars: a window of ``lookback + warmup_bars`` bars reproduces full history.

The REST layer answers ``history?indicator=RSI_14&lookback=20`` by loading only the last
``20 + warmup_bars("RSI_14")`` bars. These tests prove on real daily data (MSFT 1986-2017,
7,983 bars) that the returned tail equals a computation over the whole history.
"""

from __future__ import annotations

import numpy as np
import pytest

from apps.marketdata.analytics.indicators import compute, parse_spec, warmup_bars
from apps.marketdata.analytics.indicators.registry import get_registry

from .refdata import eurusd_hourly_bars, goog_daily_bars, msft_daily_bars

LOOKBACK = 100  # values the caller wants returned


def _window(bars, end, size):
    assert end - size >= 0, "not enough history for this window"
    return {k: v[end - size : end] for k, v in bars.items()}


_RECURSIVE = ["EMA_20", "EMA_200", "RSI_14", "RSI_2", "MACD_12_26_9", "MACD_5_35_5"]
_CASES = [
    pytest.param(spec, load, id=f"{load.__name__}-{spec}")
    for load in (msft_daily_bars, goog_daily_bars, eurusd_hourly_bars)
    for spec in _RECURSIVE
    # EMA_200 needs 2,832 bars: more than GOOG's 2,148
    if not (spec == "EMA_200" and load is goog_daily_bars)
]


@pytest.mark.parametrize(("spec", "load"), _CASES)
def test_it_reproduces_full_history_for_ema_rsi_macd(spec, load):
    bars = load()
    n = len(bars["close"])
    warm = warmup_bars(spec)
    full = compute(spec, bars)
    # several windows, not one lucky alignment
    ends = [e for e in (n, n - 137, n - 611) if e - LOOKBACK - warm >= 0]
    assert ends, f"{n} bars are fewer than {spec} needs ({LOOKBACK} + {warm})"
    for end in ends:
        tail = compute(spec, _window(bars, end, LOOKBACK + warm))
        for name, values in full.outputs.items():
            expected = values[end - LOOKBACK : end]
            got = tail.outputs[name][-LOOKBACK:]
            assert not np.isnan(expected).any()
            np.testing.assert_allclose(got, expected, rtol=1e-9, atol=0, err_msg=f"{spec}.{name}")


@pytest.mark.parametrize("spec", ["EMA_20", "RSI_14", "MACD_12_26_9"])
def test_it_needs_more_than_talib_lookback_for_recursive_indicators(spec):
    """The check above has teeth: with only TA-Lib's lookback the tail is off."""
    bars = msft_daily_bars()
    n = len(bars["close"])
    d = parse_spec(spec)
    lookback_only = d.definition.lookback(d.params)
    assert warmup_bars(spec) > 10 * lookback_only // 2
    tail = compute(spec, _window(bars, n, LOOKBACK + lookback_only))
    full = compute(spec, bars)
    first = next(iter(full.outputs))
    rel = np.abs(tail.outputs[first][-LOOKBACK:] - full.outputs[first][-LOOKBACK:])
    rel /= np.abs(full.outputs[first][-LOOKBACK:])
    assert rel.max() > 1e-6


def test_it_sizes_warmup_from_lookback_memory_and_sources():
    assert warmup_bars("SMA_20") == 19  # finite window: exactly TA-Lib's lookback
    assert warmup_bars("HMA_16") == 15 + 3
    ema = warmup_bars("EMA_20")
    assert 19 + 12 * 20 < ema < 19 + 14 * 20  # about 12.7 x period after the SMA seed
    rsi = warmup_bars("RSI_14")
    assert 14 + 24 * 14 < rsi < 14 + 27 * 14  # Wilder: about 25 x period
    assert warmup_bars("EMA_9(RSI_14)") == warmup_bars("EMA_9") + rsi
    assert warmup_bars({"name": "EMA", "params": {"period": 9}, "source": "RSI_14"}) == (
        warmup_bars("EMA_9(RSI_14)")
    )


def _all_specs():
    reg = get_registry()
    out = []
    for name in sorted(reg):
        d = reg[name]
        if d.anchor or d.path_dependent or any(s.default is None for s in d.sources):
            continue
        out.append(name)
    return out


@pytest.mark.parametrize("name", _all_specs())
def test_it_reproduces_full_history_for_every_indicator(name):
    """Every registry entry with default params, on MSFT daily.

    Values within 1% of the tail's largest magnitude are compared at that 1% scale:
    oscillators crossing zero have no meaningful relative error, and TA-Lib's running
    sums (LINEARREG_SLOPE, FOSC) carry ~1e-16 x price^2 rounding that no warm-up removes.
    """
    bars = msft_daily_bars()
    n = len(bars["close"])
    warm = warmup_bars(name)
    assert LOOKBACK + warm <= n, warm
    full = compute(name, bars)
    tail = compute(name, _window(bars, n, LOOKBACK + warm))
    for out, values in full.outputs.items():
        expected = values[-LOOKBACK:]
        got = tail.outputs[out][-LOOKBACK:]
        if name in ("MAXINDEX", "MININDEX", "MINMAXINDEX"):
            got = got + (n - LOOKBACK - warm)  # indexes are relative to the window
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected), err_msg=out)
        finite = ~np.isnan(expected)
        if not finite.any():
            continue
        scale = np.maximum(np.abs(expected[finite]), 0.01 * np.abs(expected[finite]).max())
        err = np.abs(got[finite] - expected[finite]) / np.where(scale > 0, scale, 1.0)
        assert err.max() <= 1e-9, (out, float(err.max()))


def test_it_flags_indicators_whose_level_depends_on_the_first_bar():
    reg = get_registry()
    flagged = {n for n, d in reg.items() if d.path_dependent}
    assert {"OBV", "AD", "SAR", "SAREXT", "SUPERTREND"} <= flagged
    bars = msft_daily_bars()
    full = compute("OBV", bars).value
    tail = compute("OBV", _window(bars, len(full), 500)).value
    # same day-to-day changes, different level: documented, not a warm-up problem
    np.testing.assert_allclose(np.diff(tail), np.diff(full[-500:]))
    assert abs(tail[-1] - full[-1]) > 1.0
    anchored = {n: d.anchor for n, d in reg.items() if d.anchor}
    assert anchored == {"VWAP": "session", "AVWAP": "bar", "PIVOTPOINTS": "period"}


@pytest.mark.parametrize("spec", ["SAR", "SUPERTREND_10_3"])
def test_it_settles_state_machines_in_practice(spec):
    """Best effort for path-dependent state machines: exact on this data."""
    bars = msft_daily_bars()
    n = len(bars["close"])
    full = compute(spec, bars).value
    for end in (n, n - 250, n - 1000):
        tail = compute(spec, _window(bars, end, LOOKBACK + warmup_bars(spec))).value
        np.testing.assert_allclose(tail[-LOOKBACK:], full[end - LOOKBACK : end], rtol=1e-9)
