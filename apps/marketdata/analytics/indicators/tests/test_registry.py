"""The registry: coverage of TA-Lib, metadata the REST layer and the chart UI rely on."""

from __future__ import annotations

import json
import re

import pytest
import talib

from apps.marketdata.analytics.indicators import get_indicator, list_indicators
from apps.marketdata.analytics.indicators.registry import get_registry

HAND_WRITTEN = {
    "VWAP",
    "AVWAP",
    "SUPERTREND",
    "HMA",
    "VWMA",
    "ZLEMA",
    "KELTNER",
    "DONCHIAN",
    "ICHIMOKU",
    "HEIKINASHI",
    "PIVOTPOINTS",
    "CHANDELIER",
    "ALMA",
    "ALLIGATOR",
    "SMMA",
}


def test_it_registers_at_least_100_indicators():
    assert len(get_registry()) >= 100
    assert len(list_indicators()) == len(get_registry())


def test_it_registers_every_talib_function():
    registry = get_registry()
    aliases = {a.upper() for d in registry.values() for a in d.aliases}
    for name in talib.get_functions():
        assert name in registry or name in aliases, name
        d = get_indicator(name)
        if name not in HAND_WRITTEN and name not in aliases:
            assert d.implementation == "talib"
            assert d.func is getattr(talib, name)  # called directly, not via abstract


def test_it_registers_the_indicators_talib_lacks():
    registry = get_registry()
    for name in HAND_WRITTEN:
        assert registry[name].implementation == "numpy", name
    assert get_indicator("ha").name == "HEIKINASHI"
    assert get_indicator("Chexit").name == "CHANDELIER"


def test_it_names_outputs_in_lowercase_snake_case():
    assert get_indicator("MACD").outputs == ("macd", "signal", "histogram")
    assert get_indicator("MACDEXT").outputs == ("macd", "signal", "histogram")
    assert get_indicator("BBANDS").outputs == ("upper", "middle", "lower")
    assert get_indicator("STOCH").outputs == ("slow_k", "slow_d")
    assert get_indicator("AROON").outputs == ("aroon_down", "aroon_up")
    assert get_indicator("RSI").outputs == ("value",)
    for d in get_registry().values():
        assert len(set(d.outputs)) == len(d.outputs), d.name
        for out in d.outputs:
            assert re.fullmatch(r"[a-z][a-z0-9_]*", out), (d.name, out)


def test_it_marks_candlestick_patterns_as_markers_on_the_price_pane():
    patterns = [d for d in get_registry().values() if d.kind == "pattern"]
    assert {d.name for d in patterns} == {n for n in talib.get_functions() if n.startswith("CDL")}
    assert all(d.overlay for d in patterns)


@pytest.mark.parametrize(
    ("name", "overlay"),
    [
        ("SMA", True),
        ("BBANDS", True),
        ("SAR", True),
        ("LINEARREG", True),
        ("MIDPRICE", True),
        ("ICHIMOKU", True),
        ("VWAP", True),
        ("RSI", False),
        ("MACD", False),
        ("ATR", False),
        ("OBV", False),
        ("AVGDEV", False),  # price units, but a deviation: not drawn over candles
        ("STDDEV", False),
    ],
)
def test_it_flags_price_scaled_indicators_as_overlays(name, overlay):
    assert get_indicator(name).overlay is overlay


def test_it_derives_param_metadata_with_defaults_inside_ranges():
    for d in get_registry().values():
        for p in d.params:
            assert p.type in ("int", "float"), (d.name, p.name)
            assert p.min <= p.default <= p.max, (d.name, p.name)
    rsi = get_indicator("RSI").params[0]
    assert (rsi.name, rsi.type, rsi.default) == ("period", "int", 14)
    assert rsi.min == 2  # probed: TA-Lib rejects RSI period 1 with TA_BAD_PARAM
    macd = get_indicator("MACD")
    assert [p.name for p in macd.params] == ["fast", "slow", "signal"]
    assert [p.default for p in macd.params] == [12, 26, 9]
    bbands = get_indicator("BBANDS")
    assert [p.name for p in bbands.params] == ["period", "stddev", "matype"]
    assert bbands.params[2].choices[0] == (0, "Simple Moving Average")


def test_it_moves_ma_types_after_the_periods():
    assert [p.name for p in get_indicator("STOCH").params] == [
        "fastk",
        "slowk",
        "slowd",
        "slowk_matype",
        "slowd_matype",
    ]


def test_it_lists_json_serialisable_metadata():
    listing = list_indicators()
    text = json.dumps(listing)
    assert '"name": "MACD"' in text
    macd = next(item for item in listing if item["name"] == "MACD")
    assert macd["signature"] == "MACD_fast_slow_signal"
    assert macd["sources"] == [{"name": "price", "default": "close"}]
    vwap = next(item for item in listing if item["name"] == "VWAP")
    assert vwap["anchor"] == "session"
    assert "session_id" in vwap["inputs"]
