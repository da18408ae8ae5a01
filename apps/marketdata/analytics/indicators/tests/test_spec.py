"""Spec grammar: string and JSON forms, canonical ids, helpful errors."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.marketdata.analytics.indicators import InvalidIndicator, parse_spec, split_spec_list
from apps.marketdata.analytics.indicators.registry import get_registry

SAME_ID = [
    ("RSI_14", "RSI_14"),
    ("rsi", "RSI_14"),
    ("Rsi_14", "RSI_14"),
    ("MACD", "MACD_12_26_9"),
    ("macd_12_26_9", "MACD_12_26_9"),
    ("BBANDS_20_2", "BBANDS_20_2"),
    ("BBANDS_20_2.0", "BBANDS_20_2"),
    ("BBANDS_20", "BBANDS_20_2"),
    ("BBANDS_20_2_0", "BBANDS_20_2"),  # trailing MA type at its default is dropped
    ("BBANDS_20_2_1", "BBANDS_20_2_1"),
    ("STOCH_14_3_3", "STOCH_14_3_3"),
    ("LINEARREG_SLOPE_14", "LINEARREG_SLOPE_14"),
    ("ht_dcperiod", "HT_DCPERIOD"),
    ("SMA_20(close)", "SMA_20"),
    ("SMA_20:close", "SMA_20"),
    ("SMA_20(hl2)", "SMA_20(hl2)"),
    ("EMA_9:RSI_14", "EMA_9(RSI_14)"),
    ("EMA_9(RSI_14)", "EMA_9(RSI_14)"),
    ("ema_9( rsi_14 )", "EMA_9(RSI_14)"),
    ("EMA_9:RSI_14:hl2", "EMA_9(RSI_14(hl2))"),
    ("EMA_9(MACD_12_26_9.signal)", "EMA_9(MACD_12_26_9.signal)"),
    ("EMA_9(MACD.macd)", "EMA_9(MACD_12_26_9)"),  # first output is the default
    ("MACD.signal", "MACD_12_26_9.signal"),
    ("CORREL_30(close,volume)", "CORREL_30(close,volume)"),
    ("CORREL(high, low)", "CORREL_30"),
    ("HA", "HEIKINASHI"),
    ("heikin_ashi", "HEIKINASHI"),
    ("AVWAP_-50", "AVWAP_-50"),
    ("ALMA_9_0.85_6", "ALMA_9_0.85_6"),
]


@pytest.mark.parametrize(("text", "canonical"), SAME_ID)
def test_it_maps_strings_to_canonical_ids(text, canonical):
    spec = parse_spec(text)
    assert spec.id == canonical
    assert parse_spec(spec.id).id == canonical
    assert parse_spec(spec.to_dict()).id == canonical


@pytest.mark.parametrize(
    ("data", "canonical"),
    [
        ({"name": "MACD", "params": {"fast": 12, "slow": 26, "signal": 9}}, "MACD_12_26_9"),
        ({"name": "MACD", "params": {"fastperiod": 5}}, "MACD_5_26_9"),
        ({"name": "macd", "params": [12, 26, 9]}, "MACD_12_26_9"),
        ({"name": "RSI", "params": {"length": 14}}, "RSI_14"),
        ({"name": "RSI", "params": {"period": 21}}, "RSI_21"),
        ({"name": "RSI", "params": {"timeperiod": "21"}}, "RSI_21"),
        ({"name": "RSI"}, "RSI_14"),
        ({"name": "BBANDS", "params": {"length": 20, "std": 2}}, "BBANDS_20_2"),
        (
            {
                "name": "EMA",
                "params": {"period": 9},
                "source": {"name": "RSI", "params": {"period": 14}},
            },
            "EMA_9(RSI_14)",
        ),
        ({"name": "EMA", "params": {"period": 9}, "source": "RSI_14"}, "EMA_9(RSI_14)"),
        ({"name": "EMA", "params": {"period": 9}, "source": "HL2"}, "EMA_9(hl2)"),
        (
            {"name": "EMA", "params": [9], "source": {"name": "MACD", "output": "signal"}},
            "EMA_9(MACD_12_26_9.signal)",
        ),
        (
            {"name": "CORREL", "inputs": {"price0": "close", "price1": "volume"}},
            "CORREL_30(close,volume)",
        ),
        ({"name": "CORREL", "inputs": ["close", "volume"]}, "CORREL_30(close,volume)"),
        ({"name": "MACD", "output": "histogram"}, "MACD_12_26_9.histogram"),
        ({"name": "STOCH", "params": {"k": 14, "slowk": 3, "d": 3}}, "STOCH_14_3_3"),
        ({"name": "ICHIMOKU", "params": {"conversion": 9, "base": 26}}, "ICHIMOKU_9_26_52"),
        ({"name": "RSI", "params": {"length": 14}, "indicator_id": "RSI_14"}, "RSI_14"),
    ],
)
def test_it_maps_json_to_the_same_canonical_ids(data, canonical):
    spec = parse_spec(data)
    assert spec.id == canonical
    assert parse_spec(canonical).id == canonical


def test_it_exposes_params_by_name():
    spec = parse_spec("MACD_5_35_5")
    assert spec.name == "MACD"
    assert spec.params == (5, 35, 5)
    assert spec.param_dict == {"fast": 5, "slow": 35, "signal": 5}
    assert spec.to_dict() == {"name": "MACD", "params": {"fast": 5, "slow": 35, "signal": 5}}
    assert parse_spec("BBANDS_20").params == (20, 2.0, 0)
    assert parse_spec("EMA_9(RSI_14)") == parse_spec(
        {"name": "ema", "params": [9], "source": "rsi"}
    )


def test_it_splits_query_lists_on_top_level_commas():
    text = "RSI_14, SMA_20,CORREL_30(close,volume),EMA_9(RSI_14)"
    assert split_spec_list(text) == ["RSI_14", "SMA_20", "CORREL_30(close,volume)", "EMA_9(RSI_14)"]


@pytest.mark.parametrize("name", sorted(get_registry()))
def test_it_round_trips_every_indicator_with_defaults(name):
    d = get_registry()[name]
    if any(s.default is None for s in d.sources):
        with pytest.raises(InvalidIndicator, match="needs a series"):
            parse_spec(name)
        spec = parse_spec(f"{name}(close,SMA_10)")
    else:
        spec = parse_spec(name)
    assert spec.params == d.defaults
    assert parse_spec(spec.id) == spec
    assert parse_spec(spec.to_dict()) == spec


@st.composite
def _random_spec(draw):
    reg = get_registry()
    d = reg[draw(st.sampled_from(sorted(n for n in reg if all(s.default for s in reg[n].sources))))]
    params = {}
    for p in d.params:
        if not draw(st.booleans()):
            continue
        if p.choices:
            params[p.name] = draw(st.sampled_from([k for k, _ in p.choices]))
        elif p.type == "int":
            params[p.name] = draw(st.integers(int(p.min), int(min(p.max, p.min + 500))))
        else:
            params[p.name] = draw(
                st.floats(p.min, min(p.max, p.min + 1000), allow_nan=False, allow_subnormal=False)
            )
    return {"name": d.name.lower(), "params": params}


@settings(
    max_examples=300, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(_random_spec())
def test_it_round_trips_random_valid_params(data):
    spec = parse_spec(data)
    again = parse_spec(spec.id)
    assert again == spec
    assert again.params == spec.params
    for p, value in zip(spec.definition.params, spec.params, strict=True):
        assert value == data["params"].get(p.name, p.default)


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "fragments"),
    [
        ("RSII_14", ["Unknown indicator 'RSII'", "RSI"]),
        ("MCAD_12_26_9", ["Unknown indicator", "MACD"]),
        ({"name": "BOLLINGER"}, ["Unknown indicator 'BOLLINGER'"]),
        ("RSI_14_3", ["RSI takes at most 1 parameter", "RSI_period", "got 2"]),
        ("MACD_1_2_3_4", ["MACD takes at most 3 parameters", "MACD_fast_slow_signal"]),
        ("RSI_1", ["out of range", "integer from 2 to 5000", "got 1"]),
        ("RSI_0", ["out of range"]),
        ("RSI_100000", ["out of range", "5000"]),
        ("SMA_-5", ["out of range"]),
        ("RSI_14.5", ["must be an integer", "got 14.5"]),
        ("BBANDS_20_-1", ["stddev", "out of range", "number from 0 to 100"]),
        ("BBANDS_20_2_99", ["matype", "must be one of", "0=Simple Moving Average"]),
        ("RSI_abc", ["RSI parameters must be numbers (RSI_period); got 'abc'"]),
        ("RSI_14_abc", ["expected a number after '_'"]),
        ({"name": "RSI", "params": {"period": "abc"}}, ["must be a number", "'abc'"]),
        ({"name": "RSI", "params": {"period": True}}, ["must be a number"]),
        ({"name": "RSI", "params": {"period": None}}, ["must be a number"]),
        ({"name": "RSI", "params": {"period": float("nan")}}, ["must be finite"]),
        ({"name": "RSI", "params": {"window": 14}}, ["RSI has no parameter 'window'", "period"]),
        ({"name": "RSI", "params": {"length": 14, "period": 10}}, ["given twice"]),
        ({"name": "RSI", "params": "14"}, ["params must be an object or a list"]),
        ({"name": "RSI", "colour": "red"}, ["Unknown key(s) ['colour']"]),
        ({"params": {"period": 14}}, ['needs a "name"']),
        ({"name": "EMA", "source": "RSI_14", "inputs": ["close"]}, ['either "source" or "inputs"']),
        ({"name": "EMA", "inputs": {"real": "close"}}, ["EMA has no input 'real'", "price"]),
        ({"name": "EMA", "source": 5}, ["A source must be a field"]),
        ("MACD.foo", ["MACD has no output 'foo'", "macd, signal, histogram"]),
        ("ATR_14(close)", ["ATR reads high, low, close itself and takes no source"]),
        ("EMA_9(close,open)", ["EMA takes 1 source (price); got 2"]),
        ("MAVP", ["MAVP needs a series for its 'periods' input"]),
        ("close", ["'close' is a price field, not an indicator", "SMA_20(close)"]),
        ("RSI_14(", ["expected an indicator name or a field"]),
        ("EMA_9(RSI_14", ["expected ',' or ')'"]),
        ("EMA_9(RSI_14):hl2", ["not both"]),
        ("RSI_14 SMA_20", ["unexpected text"]),
        ("", ["expected an indicator name"]),
        ("_14", ["expected an indicator name"]),
        ("EMA_9(" * 12 + "close" + ")" * 12, ["nested too deeply"]),
        ("SMA_" + "1" * 600, ["too long"]),
        (42, ["must be a string like 'RSI_14'"]),
    ],
)
def test_it_rejects_bad_specs_with_helpful_messages(value, fragments):
    with pytest.raises(InvalidIndicator) as info:
        parse_spec(value)
    for fragment in fragments:
        assert fragment in info.value.message, info.value.message
    assert info.value.code == "INVALID_INDICATOR"
