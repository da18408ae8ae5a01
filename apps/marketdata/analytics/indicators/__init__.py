"""TradeFlow indicator library: pure numpy + TA-Lib, no Django, no database.

The REST (``/api/v1/indicators/...``) and WebSocket (``/ws/indicators/``) layers call:

* ``parse_spec(value) -> IndicatorSpec``: ``"RSI_14"``, ``"EMA_9(RSI_14)"`` or
  ``{"name": "MACD", "params": {...}}``; ``spec.id`` is the canonical id.
* ``compute(spec, bars) -> IndicatorResult`` / ``compute_many(specs, bars)``.
* ``warmup_bars(spec) -> int``: extra history to fetch before the first returned bar.
* ``list_indicators()``: metadata for the indicator picker and API docs.
* ``compile_formula(text) -> Formula``: user-defined indicators in a safe expression
  language (``ema(close, 20) - sma(close, 50)``).

Errors are ``InvalidIndicator`` (wire code ``INVALID_INDICATOR``) and ``FormulaError``
(``INVALID_FORMULA``, with the offending position); both carry a user-facing ``message``.
"""

from .engine import IndicatorResult, compute, compute_many, warmup_bars
from .errors import FormulaError, InvalidIndicator
from .formula import Formula, compile_formula
from .registry import FIELDS, IndicatorDef, get_indicator, list_indicators
from .spec import IndicatorSpec, parse_spec, split_spec_list

__all__ = [
    "FIELDS",
    "Formula",
    "FormulaError",
    "IndicatorDef",
    "IndicatorResult",
    "IndicatorSpec",
    "InvalidIndicator",
    "compile_formula",
    "compute",
    "compute_many",
    "get_indicator",
    "list_indicators",
    "parse_spec",
    "split_spec_list",
    "warmup_bars",
]
