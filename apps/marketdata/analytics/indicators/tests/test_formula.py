"""The custom-indicator formula language: hostile input is rejected, valid input is right."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.marketdata.analytics.indicators import (
    FormulaError,
    compile_formula,
    compute,
    warmup_bars,
)
from apps.marketdata.analytics.indicators import formula as formula_module

from .refdata import goog_daily_bars, msft_daily_bars

# Python's parser warns (process-globally) on some inputs; the formula module must not.
pytestmark = pytest.mark.filterwarnings("error::SyntaxWarning")

INJECTIONS = [
    ("__import__('os')", 0, "'__import__' is not allowed"),
    ("__import__('os').system('id')", 0, "attribute access"),
    ("close.__class__", 0, "attribute access"),
    ("close.__class__.__mro__[1].__subclasses__()", 0, "attribute access"),
    ("().__class__", 0, "attribute access"),
    ("open('x')", 0, "'open' is a price field, not a function"),
    ("open('/etc/passwd').read()", 0, "attribute access"),
    ("eval('1')", 0, "unknown function 'eval'"),
    ("exec('x=1')", 0, "unknown function 'exec'"),
    ("getattr(close, 'real')", 0, "unknown function 'getattr'"),
    ("globals()", 0, "unknown function 'globals'"),
    ("__builtins__", 0, "name '__builtins__' is not allowed"),
    ("9**9**9", 3, "exponent of '**' must be a number literal"),
    ("close ** 1000", 9, "between -10 and 10"),
    ("2 ** 99999999999", 5, "between -10 and 10"),
    ("close ** close", 9, "exponent of '**'"),
    ("(" * 100 + "close" + ")" * 100, 20, "nested too deeply"),
    ("abs(" * 80 + "close" + ")" * 80, 83, "nested too deeply"),
    ("-" * 100 + "close", 20, "nested too deeply"),
    ("not " * 100 + "close", 80, "nested too deeply"),
    ("close+" * 100 + "close", 500, "too long"),
    ("lambda: close", 0, "lambda is not allowed"),
    ("(lambda x: x)(close)", 0, "only calls to named functions"),
    ("close[1]", 0, "subscripts"),
    ("close[-1:]", 0, "subscripts"),
    ("[c for c in close]", 0, "comprehensions"),
    ("{1: close}", 0, "dicts are not allowed"),
    ("(close, open)", 0, "tuples are not allowed"),
    ("'close'", 0, "only number literals"),
    ("f'{close}'", 0, "strings are not allowed"),
    ("(x := close)", 1, "assignment"),
    ("close if close > open else open", 0, "use iff(c, a, b)"),
    ("ema(close, 20, output=print)", 22, "output must be a string"),
    ("ema(close, period=__import__)", 18, "must be a number literal"),
    ("ema(*close)", 4, "'*' arguments"),
    ("ema(**close)", 4, "'**' arguments"),
    ("close @ open", 0, "not allowed"),
    ("close // 2", 0, "not allowed"),
    ("close % 2", 0, "not allowed"),
    ("~close", 0, "not allowed"),
    ("1e400", 0, "finite"),
    ("close\x00", 5, "not allowed"),
    ("clos\u00e9", 4, "not allowed"),
    ("import os", 0, "syntax error"),
    ("close; open", 5, "syntax error"),
    ("1e9close", 3, "separated from the name"),
    ("close>1if close else 2", 7, "separated from the name"),
    ("0x10", 1, "separated from the name"),
    ("", 0, "empty"),
]


@pytest.mark.parametrize(
    ("text", "position", "fragment"), INJECTIONS, ids=[t[:40] for t, _, _ in INJECTIONS]
)
def test_it_rejects_injection_attempts(text, position, fragment):
    with pytest.raises(FormulaError) as info:
        compile_formula(text)
    err = info.value
    assert fragment in err.message, err.message
    assert err.position == position, (err.position, err.message)
    assert err.line == 1 and err.col >= 1
    assert err.code == "INVALID_FORMULA"


def test_it_reports_line_and_column_on_multiline_formulas():
    with pytest.raises(FormulaError) as info:
        compile_formula("(ema(close, 20)\n  - close.real)")
    assert (info.value.line, info.value.col, info.value.position) == (2, 5, 20)
    with pytest.raises(FormulaError) as info:
        compile_formula("ema(close, 20)\n  - close")  # a newline ends the expression
    assert info.value.message.startswith("syntax error") and info.value.line == 2


def test_it_limits_node_count_and_calls():
    chain = "<".join(["1"] * 120)  # 240 AST nodes at depth 2
    with pytest.raises(FormulaError, match="too large"):
        compile_formula(chain)
    inner = "max(" + ",".join(["abs(close)"] * 5) + ")"
    many_calls = "max(" + ",".join([inner] * 7) + ")"  # 43 calls
    with pytest.raises(FormulaError, match="too many function calls"):
        compile_formula(many_calls)


def test_it_limits_evaluation_time_and_size(monkeypatch):
    bars = goog_daily_bars()
    f = compile_formula("ema(close, 20) - sma(close, 50)")
    monkeypatch.setattr(formula_module, "TIME_LIMIT_SECONDS", -1.0)
    with pytest.raises(FormulaError, match="took longer than"):
        f.evaluate(bars)
    monkeypatch.setattr(formula_module, "TIME_LIMIT_SECONDS", 2.0)
    monkeypatch.setattr(formula_module, "MAX_BARS", 100)
    with pytest.raises(FormulaError, match="too many bars"):
        f.evaluate(bars)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("emaa(close, 10)", "did you mean ema"),
        ("ema(close, 0)", "out of range"),
        ("ema(close, 2.5)", "must be an integer"),
        ("ema(close, 20, 30)", "takes at most 1 number"),
        ("ema(close, open, 20)", "takes 1 series argument"),
        ("ema(close, period=20, length=20)", "given twice"),
        ("ema(close, window=20)", "has no keyword 'window'"),
        ("macd(close, output='nope')", "has no output 'nope'"),
        ("atr(close, 14)", "takes 0 series argument"),
        ("rsi(close, '14')", 'strings are only allowed as output="..."'),
        ("ema", "'ema' is a function"),
        ("foo + 1", "unknown name 'foo'"),
        ("prev(close, -1)", "n must be an integer literal"),
        ("prev(close, x)", "n must be an integer literal"),
        ("crossover(close)", "takes 2 arguments"),
        ("mavp(close, 2, 30)", "argument 2 must be a series (periods)"),
        ("mavp(close)", "needs a series for its 'periods' input"),
    ],
)
def test_it_explains_invalid_calls(text, fragment):
    with pytest.raises(FormulaError) as info:
        compile_formula(text)
    assert fragment in info.value.message, info.value.message
    assert 0 <= info.value.position < len(text)


# --- valid formulas ------------------------------------------------------------------------


def _nan_bool(mask: np.ndarray, *inputs: np.ndarray) -> np.ndarray:
    out = mask.astype(float)
    for x in inputs:
        out[np.isnan(x)] = np.nan
    return out


def test_it_evaluates_formulas_like_direct_talib_calls():
    bars = goog_daily_bars()
    o, h, lo, c, v = (bars[k] for k in ("open", "high", "low", "close", "volume"))
    ema20, sma50 = talib.EMA(c, 20), talib.SMA(c, 50)
    rsi = talib.RSI(c, 14)
    fast, slow = talib.EMA(c, 9), talib.EMA(c, 21)
    up, _, low_band = talib.BBANDS(c, 20, 2, 2, 0)
    _, _, hist = talib.MACD(c, 12, 26, 9)
    cases = {
        "ema(close, 20) - sma(close, 50)": ema20 - sma50,
        "rsi(close, 14) > 70": _nan_bool(rsi > 70, rsi),
        "(high + low) / 2": (h + lo) / 2,
        "crossover(ema(close,9), ema(close,21))": _nan_bool(
            (fast > slow) & (np.roll(fast, 1) <= np.roll(slow, 1)), fast, np.roll(slow, 1)
        ),
        'bbands(close, 20, 2, output="upper") - bbands(close, 20, 2, output="lower")': up
        - low_band,
        "atr(14) / close * 100": talib.ATR(h, lo, c, 14) / c * 100,
        'macd(close, 12, 26, 9, output="histogram")': hist,
        "ema(close, period=20)": ema20,
        "ema(20)": ema20,
        "ema(rsi(close, 14), 9)": talib.EMA(rsi, 9),
        "sma(close - open, 10)": talib.SMA(c - o, 10),
        "correl(close, volume, 30)": talib.CORREL(c, v, 30),
        "highest(high, 20) - lowest(low, 20)": talib.MAX(h, 20) - talib.MIN(lo, 20),
        "close ** 2 - -close": c**2 + c,
        "abs(close - open) / (high - low)": np.abs(c - o) / (h - lo),
        "max(open, close, 0)": np.maximum(np.maximum(o, c), 0),
        "iff(close > open, high, low)": np.where(c > o, h, lo),
        "nz(sma(close, 5), -1)": np.nan_to_num(talib.SMA(c, 5), nan=-1),
        "prev(close, 2)": np.concatenate(([np.nan, np.nan], c[:-2])),
        "close > open and volume > sma(volume, 20)": _nan_bool(
            (c > o) & (v > talib.SMA(v, 20)), talib.SMA(v, 20)
        ),
        "not close > open or close == open": ((c <= o) | (c == o)).astype(float),
        "1 < rsi(close, 14) < 50": _nan_bool((rsi > 1) & (rsi < 50), rsi),
        "hlc3 - vwap()": (h + lo + c) / 3 - compute("VWAP", bars).value,
    }
    for text, expected in cases.items():
        got = compile_formula(text).evaluate(bars)
        expected = np.where(np.isfinite(expected), expected, np.nan)
        if "crossover" in text:
            expected[0] = np.nan
        np.testing.assert_allclose(got, expected, rtol=1e-12, equal_nan=True, err_msg=text)


def test_it_returns_nan_not_inf_for_undefined_values():
    got = compile_formula("close / (close - close)").evaluate(goog_daily_bars())
    assert np.isnan(got).all()


def test_it_shares_repeated_subexpressions():
    f = compile_formula("ema(close, 20) - ema(close, 20) * 0.5")
    bars = goog_daily_bars()
    np.testing.assert_allclose(f.evaluate(bars), talib.EMA(bars["close"], 20) * 0.5)
    assert f.functions == frozenset({"ema"})
    assert compile_formula("ema(close, 20) - ema(close, 20) * 0.5") is f  # cached compile


def test_it_computes_warmup_like_the_equivalent_spec():
    assert compile_formula("ema(rsi(close, 14), 9)").warmup_bars == warmup_bars("EMA_9(RSI_14)")
    assert compile_formula("(high + low) / 2").warmup_bars == 0
    assert compile_formula("prev(sma(close, 20), 3)").warmup_bars == 19 + 3
    crossover = compile_formula("crossover(ema(close, 9), sma(close, 50))").warmup_bars
    assert crossover == max(warmup_bars("EMA_9"), warmup_bars("SMA_50")) + 1


def test_it_reproduces_full_history_after_warmup():
    bars = msft_daily_bars()
    n = len(bars["close"])
    f = compile_formula("ema(close, 20) - sma(close, 50) + rsi(hl2, 14) / 100")
    full = f.evaluate(bars)
    size = 100 + f.warmup_bars
    tail = f.evaluate({k: v[n - size :] for k, v in bars.items()})
    np.testing.assert_allclose(tail[-100:], full[-100:], rtol=1e-9)


_TOKENS = st.sampled_from(
    [
        "close", "open", "volume", "hl2", "ema", "rsi", "macd", "prev", "crossover", "max",
        "__import__", "__class__", "os", "x", "1", "2.5", "1e9", "-", "+", "*", "/", "**",
        "(", ")", ",", ".", "[", "]", "'a'", "output=", "period=", " and ", " not ",
        "<", "==", "lambda", ":", "if", "else", "9",
    ]
)  # fmt: skip


@settings(max_examples=400, database=None, deadline=None)
@given(st.lists(_TOKENS, max_size=25))
def test_it_never_fails_with_anything_but_formula_error(tokens):
    text = "".join(tokens)
    bars = {k: v[:300] for k, v in goog_daily_bars().items()}
    try:
        f = compile_formula(text)
    except FormulaError as err:
        assert err.position is None or 0 <= err.position <= len(text)
        return
    out = f.evaluate(bars)
    assert out.shape == (300,) and out.dtype == np.float64
    assert not np.isinf(out).any()


@settings(max_examples=300, database=None, deadline=None)
@given(st.text(max_size=80))
def test_it_handles_arbitrary_text(text):
    with contextlib.suppress(FormulaError):
        compile_formula(text)
