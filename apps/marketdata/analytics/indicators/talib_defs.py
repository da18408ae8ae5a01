"""Registry entries derived from TA-Lib's own metadata.

Nothing here lists TA-Lib functions by hand: names, groups, inputs, defaults, output names
and the "same scale as price" flag all come from ``talib.abstract``. What TA-Lib does not
publish is filled in by small tables keyed by TA-Lib's parameter/output names:

* friendly parameter names (``timeperiod -> period`` with aliases ``length``/
  ``timeperiod``; ``fastperiod -> fast``), so the JSON form of the reference contract
  (``{"length": 14}``, ``{"fast": 12, "slow": 26, "signal": 9}``) works as-is;
* parameter minimums, found by probing the function once (TA-Lib rejects a bad period
  with TA_BAD_PARAM), and maximums (``MAX_PERIOD``, float ranges by parameter meaning);
* recursive memory for ``warmup_bars`` (``memory.py``).

MA-type parameters are moved after the other parameters in the positional grammar, so
``STOCH_14_3_3`` means fastk=14, slowk=3, slowd=3 as traders write it, rather than
TA-Lib's positional order where the third number would be slowk's MA type.
"""

from __future__ import annotations

import functools
import re

import numpy as np
import talib
from talib import abstract

from .memory import (
    HILBERT_MEMORY,
    KAMA_MEMORY,
    STATE_MACHINE_SETTLE,
    ema_memory,
    ma_memory,
    mama_memory,
    settle,
    wilder_memory,
)
from .registry import BASE_FIELDS, MAX_PERIOD, IndicatorDef, Param, SourceSlot

# TA-Lib parameter name -> (friendly name, extra aliases). TA-Lib's name is always an alias.
_PARAM_NAMES: dict[str, tuple[str, tuple[str, ...]]] = {
    "timeperiod": ("period", ("length",)),
    "fastperiod": ("fast", ("fast_length",)),
    "slowperiod": ("slow", ("slow_length",)),
    "signalperiod": ("signal", ("signal_length",)),
    "fastmatype": ("fast_matype", ()),
    "slowmatype": ("slow_matype", ()),
    "signalmatype": ("signal_matype", ()),
    "fastk_period": ("fastk", ("k",)),
    "slowk_period": ("slowk", ()),
    "slowd_period": ("slowd", ("d",)),
    "fastd_period": ("fastd", ()),
    "nbdev": ("deviations", ("std", "stddev", "dev", "mult")),
    "nbdevup": ("deviations_up", ()),
    "nbdevdn": ("deviations_down", ()),
    "timeperiod1": ("period1", ()),
    "timeperiod2": ("period2", ()),
    "timeperiod3": ("period3", ()),
    "minperiod": ("min_period", ()),
    "maxperiod": ("max_period", ()),
    "atrperiod": ("atr_period", ()),
    "acceleration": ("acceleration", ("af", "step")),
    "maximum": ("maximum", ("max_af",)),
    "accelerationinitlong": ("acceleration_init_long", ()),
    "accelerationlong": ("acceleration_long", ()),
    "accelerationmaxlong": ("acceleration_max_long", ()),
    "accelerationinitshort": ("acceleration_init_short", ()),
    "accelerationshort": ("acceleration_short", ()),
    "accelerationmaxshort": ("acceleration_max_short", ()),
    "startvalue": ("start_value", ()),
    "offsetonreverse": ("offset_on_reverse", ()),
    "fastlimit": ("fast_limit", ()),
    "slowlimit": ("slow_limit", ()),
    "vfactor": ("vfactor", ("volume_factor",)),
    "leftbars": ("left_bars", ()),
    "rightbars": ("right_bars", ()),
    "wmaperiod": ("wma_period", ()),
    "roc1period": ("roc1_period", ()),
    "roc2period": ("roc2_period", ()),
    "firstperiod": ("first_period", ()),
    "secondperiod": ("second_period", ()),
    "rocperiod": ("roc_period", ()),
    "stddevperiod": ("stddev_period", ()),
}

# Float parameter ranges by meaning (TA-Lib itself accepts +-3e37 for most of them).
_FLOAT_RANGES: dict[str, tuple[float, float]] = {
    "acceleration": (0.0, 10.0),
    "maximum": (0.0, 10.0),
    "accelerationinitlong": (0.0, 10.0),
    "accelerationlong": (0.0, 10.0),
    "accelerationmaxlong": (0.0, 10.0),
    "accelerationinitshort": (0.0, 10.0),
    "accelerationshort": (0.0, 10.0),
    "accelerationmaxshort": (0.0, 10.0),
    "fastlimit": (0.01, 0.99),
    "slowlimit": (0.01, 0.99),
    "nbdev": (0.0, 100.0),
    "nbdevup": (0.0, 100.0),
    "nbdevdn": (0.0, 100.0),
    "multiplier": (0.0, 100.0),
    "offsetonreverse": (0.0, 1e12),
    "startvalue": (-1e12, 1e12),
    "penetration": (0.0, 10.0),
    "percentile": (0.0, 100.0),
    "vfactor": (0.0, 1.0),
}
_FLOAT_DEFAULT_RANGE = (-1e12, 1e12)

# TA-Lib output name -> wire name. A lone "real"/"integer" output becomes "value".
_OUTPUT_NAMES = {
    "upperband": "upper",
    "middleband": "middle",
    "lowerband": "lower",
    "macdsignal": "signal",
    "macdhist": "histogram",
    "aroondown": "aroon_down",
    "aroonup": "aroon_up",
    "slowk": "slow_k",
    "slowd": "slow_d",
    "fastk": "fast_k",
    "fastd": "fast_d",
    "inphase": "in_phase",
    "leadsine": "lead_sine",
    "minidx": "min_idx",
    "maxidx": "max_idx",
    "plusvi": "plus_vi",
    "minusvi": "minus_vi",
    "smisignal": "signal",
    "haopen": "open",
    "hahigh": "high",
    "halow": "low",
    "haclose": "close",
    "swinghigh": "swing_high",
    "swinglow": "swing_low",
    "bullpower": "bull_power",
    "bearpower": "bear_power",
    "real": "value",
    "integer": "value",
}

# "Output scale same as input" but not a price level: keep in its own pane.
_NOT_OVERLAY = {"AVGDEV"}
# Cumulative series whose level depends on the first bar (older TA-Lib builds lack the flag).
_PATH_DEPENDENT = {"AD", "ADOSC", "OBV", "SAR", "SAREXT", "CUMSUM", "NVI", "PVI", "PVT", "WAD"}


def _e(key):
    return lambda p: ema_memory(p[key])


def _w(key, stages=1):
    return lambda p: stages * wilder_memory(p[key])


# TA-Lib function -> memory(params by TA-Lib name). Functions not listed have finite windows.
_MEMORY = {
    "EMA": _e("timeperiod"),
    "DEMA": lambda p: 2 * ema_memory(p["timeperiod"]),
    "TEMA": lambda p: 3 * ema_memory(p["timeperiod"]),
    "TRIX": lambda p: 3 * ema_memory(p["timeperiod"]),
    "T3": lambda p: 6 * ema_memory(p["timeperiod"]),
    "ZLEMA": _e("timeperiod"),
    "EFI": _e("timeperiod"),
    "ERI": _e("timeperiod"),
    "CVI": _e("timeperiod"),
    "MASSI": lambda p: 2 * ema_memory(9),
    "MA": lambda p: ma_memory(p["matype"], p["timeperiod"]),
    "MAVP": lambda p: ma_memory(p["matype"], p["maxperiod"]),
    "BBANDS": lambda p: ma_memory(p["matype"], p["timeperiod"]),
    "MACD": lambda p: (
        max(ema_memory(p["fastperiod"]), ema_memory(p["slowperiod"]))
        + ema_memory(p["signalperiod"])
    ),
    "MACDFIX": lambda p: ema_memory(26) + ema_memory(p["signalperiod"]),
    "MACDEXT": lambda p: (
        max(
            ma_memory(p["fastmatype"], p["fastperiod"]), ma_memory(p["slowmatype"], p["slowperiod"])
        )
        + ma_memory(p["signalmatype"], p["signalperiod"])
    ),
    "APO": lambda p: max(
        ma_memory(p["matype"], p["fastperiod"]), ma_memory(p["matype"], p["slowperiod"])
    ),
    "PPO": lambda p: max(
        ma_memory(p["matype"], p["fastperiod"]), ma_memory(p["matype"], p["slowperiod"])
    ),
    "PVO": lambda p: max(
        ma_memory(p["matype"], p["fastperiod"]), ma_memory(p["matype"], p["slowperiod"])
    ),
    "ADOSC": lambda p: max(ema_memory(p["fastperiod"]), ema_memory(p["slowperiod"])),
    "RSI": _w("timeperiod"),
    "CMO": _w("timeperiod"),
    "ATR": _w("timeperiod"),
    "NATR": _w("timeperiod"),
    "RMA": _w("timeperiod"),
    "PLUS_DM": _w("timeperiod"),
    "MINUS_DM": _w("timeperiod"),
    "PLUS_DI": _w("timeperiod"),
    "MINUS_DI": _w("timeperiod"),
    "DX": _w("timeperiod"),
    "ADX": _w("timeperiod", 2),
    "ADXR": _w("timeperiod", 2),
    "RVI": _w("timeperiod", 2),
    "STOCH": lambda p: (
        ma_memory(p["slowk_matype"], p["slowk_period"])
        + ma_memory(p["slowd_matype"], p["slowd_period"])
    ),
    "KDJ": lambda p: (
        ma_memory(p["slowk_matype"], p["slowk_period"])
        + ma_memory(p["slowd_matype"], p["slowd_period"])
    ),
    "STOCHF": lambda p: ma_memory(p["fastd_matype"], p["fastd_period"]),
    "STOCHRSI": lambda p: (
        wilder_memory(p["timeperiod"]) + ma_memory(p["fastd_matype"], p["fastd_period"])
    ),
    "TSI": lambda p: ema_memory(p["firstperiod"]) + ema_memory(p["secondperiod"]),
    "SMI": lambda p: sum(ema_memory(v) for v in p.values()),
    "KC": lambda p: max(ema_memory(p["timeperiod"]), wilder_memory(p["atrperiod"])),
    "KAMA": lambda p: KAMA_MEMORY,
    "MAMA": lambda p: mama_memory(p["slowlimit"]),
    "HA": lambda p: settle(0.5),
    "SAR": lambda p: STATE_MACHINE_SETTLE,
    "SAREXT": lambda p: STATE_MACHINE_SETTLE,
    "SUPERTREND": lambda p: wilder_memory(p["timeperiod"]) + STATE_MACHINE_SETTLE,
    "HT_DCPERIOD": lambda p: HILBERT_MEMORY,
    "HT_DCPHASE": lambda p: HILBERT_MEMORY,
    "HT_PHASOR": lambda p: HILBERT_MEMORY,
    "HT_SINE": lambda p: HILBERT_MEMORY,
    "HT_TRENDMODE": lambda p: HILBERT_MEMORY,
    "HT_TRENDLINE": lambda p: HILBERT_MEMORY,
}


def _unknown_unstable_memory(p: dict) -> int:
    """A function TA-Lib flags as recursive that the table does not know yet: assume two
    Wilder stages over its longest integer parameter."""
    periods = [v for v in p.values() if isinstance(v, int) and v > 1] or [30]
    return 2 * wilder_memory(max(periods))


def _no_memory(p: dict) -> int:
    return 0


@functools.cache
def _probe_data() -> dict[str, np.ndarray]:
    """A deterministic 400-bar random walk, only for probing parameter minimums."""
    rng = np.random.default_rng(7)
    close = 100.0 + np.cumsum(rng.normal(0, 1, 400))
    open_ = close + rng.normal(0, 0.3, 400)
    high = np.maximum(open_, close) + rng.random(400)
    low = np.minimum(open_, close) - rng.random(400)
    volume = rng.integers(100, 10_000, 400).astype(np.float64)
    periods = np.full(400, 10.0)
    return {
        "open": open_,
        "high": high,
        "low": low,
        "close": close,
        "volume": volume,
        "periods": periods,
    }


def _probe_min(name: str, inputs: list[np.ndarray], params: dict, key: str) -> int:
    fn = getattr(talib, name)
    for candidate in range(1, 6):
        trial = dict(params, **{key: candidate})
        try:
            fn(*inputs, **trial)
        except Exception:  # noqa: S112 - TA-Lib signals a bad parameter with a bare Exception
            continue
        return candidate
    return max(1, int(params[key]))


def _ma_choices() -> tuple[tuple[int, str], ...]:
    lookup = getattr(talib.MA_Type, "_lookup", None) or {
        0: "SMA",
        1: "EMA",
        2: "WMA",
        3: "DEMA",
        4: "TEMA",
        5: "TRIMA",
        6: "KAMA",
        7: "MAMA",
        8: "T3",
    }
    return tuple(sorted(lookup.items()))


def _snake_output(name: str, single: bool) -> str:
    if single and name in ("real", "integer"):
        return "value"
    return _OUTPUT_NAMES.get(name, re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_"))


def _make_lookback(name: str, talib_names: tuple[str, ...], order: tuple[int, ...]):
    def lookback(params: tuple) -> int:
        # A fresh abstract Function per call: the objects are stateful and not
        # thread-safe; warmup_bars caches the result per canonical id anyway.
        fn = abstract.Function(name)
        fn.parameters = {k: params[i] for k, i in zip(talib_names, order, strict=True)}
        return int(fn.lookback)

    return lookback


def _make_memory(memory, talib_names: tuple[str, ...], order: tuple[int, ...]):
    def run(params: tuple) -> int:
        return int(memory({k: params[i] for k, i in zip(talib_names, order, strict=True)}))

    return run


def _make_call_params(order: tuple[int, ...]):
    if order == tuple(range(len(order))):
        return lambda params: params
    return lambda params: tuple(params[i] for i in order)


def _define(name: str) -> IndicatorDef:
    fn_abstract = abstract.Function(name)
    info = fn_abstract.info
    flags = set(info.get("function_flags") or ())
    probe = _probe_data()

    slots: list[str | SourceSlot] = []
    probe_inputs: list[np.ndarray] = []
    for key, value in info["input_names"].items():
        if isinstance(value, list | tuple):
            slots.extend(value)
            probe_inputs.extend(probe[v] for v in value)
        else:
            slots.append(SourceSlot(key, value if value in BASE_FIELDS else None))
            probe_inputs.append(probe.get(value, probe["close"]))

    talib_params = dict(info["parameters"])
    choices = _ma_choices()
    params: list[Param] = []
    advanced_flags: list[bool] = []
    for key, default in talib_params.items():
        friendly, extra = _PARAM_NAMES.get(key, (key, ()))
        aliases = tuple(a for a in (key, *extra) if a != friendly)
        if key.endswith("matype"):
            params.append(
                Param(
                    friendly,
                    "int",
                    int(default),
                    choices[0][0],
                    choices[-1][0],
                    aliases,
                    choices,
                    True,
                )
            )
            advanced_flags.append(True)
        elif isinstance(default, int):
            low = _probe_min(name, probe_inputs, talib_params, key)
            params.append(Param(friendly, "int", default, low, max(MAX_PERIOD, default), aliases))
            advanced_flags.append(False)
        else:
            low, high = _FLOAT_RANGES.get(key, _FLOAT_DEFAULT_RANGE)
            params.append(Param(friendly, "float", float(default), low, high, aliases))
            advanced_flags.append(False)

    # Friendly order: plain parameters first, MA types last (both in TA-Lib order).
    friendly_order = [i for i, adv in enumerate(advanced_flags) if not adv] + [
        i for i, adv in enumerate(advanced_flags) if adv
    ]
    ordered = tuple(params[i] for i in friendly_order)
    # order[k] = position in the friendly tuple of TA-Lib's k-th parameter
    order = tuple(friendly_order.index(k) for k in range(len(params)))
    talib_names = tuple(talib_params)
    if name == "BBANDS":
        ordered, order = _bbands_params(ordered)

    outputs = tuple(_snake_output(o, len(info["output_names"]) == 1) for o in info["output_names"])
    is_pattern = "Output is a candlestick" in flags or name.startswith("CDL")
    if flags:
        overlay = "Output scale same as input" in flags and name not in _NOT_OVERLAY
    else:
        overlay = info["group"] in ("Overlap Studies", "Price Transform")

    if name in _MEMORY:
        memory = _MEMORY[name]
    elif "Function has an unstable period" in flags:
        memory = _unknown_unstable_memory
    else:
        memory = _no_memory

    return IndicatorDef(
        name=name,
        title=info.get("display_name") or name,
        group=info["group"],
        params=ordered,
        outputs=outputs,
        slots=tuple(slots),
        func=getattr(talib, name),
        call_params=_make_call_params(order),
        lookback=_make_lookback(name, talib_names, order),
        memory=_make_memory(memory, talib_names, order),
        overlay=overlay or is_pattern,
        kind="pattern" if is_pattern else "line",
        path_dependent="Output is path-dependent" in flags or name in _PATH_DEPENDENT,
        implementation="talib",
        description=f"TA-Lib {name}: {info.get('display_name') or name}",
    )


def _bbands_params(ordered: tuple[Param, ...]) -> tuple[tuple[Param, ...], tuple[int, ...]]:
    """BBANDS takes one ``stddev`` for both bands.

    TA-Lib has separate ``nbdevup``/``nbdevdn``; positionally ``BBANDS_20_2.5`` would then
    mean 2.5 up and the default 2 down, which nobody who writes that id expects. The
    reference contract also maps ``BBANDS_20_2`` to ``{"length": 20, "std": 2}``.
    """
    period, _up, _down, matype = ordered
    stddev = Param(
        "stddev",
        "float",
        2.0,
        0.0,
        100.0,
        ("std", "nbdev", "nbdevup", "nbdevdn", "deviations", "mult"),
        description="band width in standard deviations (both bands)",
    )
    return (period, stddev, matype), (0, 1, 1, 2)


def talib_definitions() -> list[IndicatorDef]:
    return [_define(name) for name in talib.get_functions()]
