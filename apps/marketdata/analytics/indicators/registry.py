"""The one registry of indicators: every TA-Lib function plus the hand-written ones.

Entries are derived from TA-Lib's own metadata at first use (see ``talib_defs``), so a
TA-Lib upgrade adds functions without code changes. The hand-written indicators of
``custom`` take precedence over TA-Lib functions of the same name: newer TA-Lib builds
ship their own HMA, SUPERTREND, VWAP, ... and an id such as ``HMA_20`` must mean the same
thing on every deployment whatever TA-Lib it has (tests check the two agree where both
exist, or document why not).

Consumers: ``spec`` (name and param validation), ``engine`` (the call plan), ``formula``
(function whitelist) and the REST layer (``list_indicators`` for the indicator picker).
"""

from __future__ import annotations

import difflib
import functools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidIndicator

#: Bar fields an indicator can take as its source. The derived prices are computed once
#: per request by the engine.
BASE_FIELDS = ("open", "high", "low", "close", "volume")
DERIVED_FIELDS = ("hl2", "hlc3", "ohlc4")
FIELDS = BASE_FIELDS + DERIVED_FIELDS

#: Non-price bar inputs some indicators read (never valid as a user source).
CONTEXT_FIELDS = ("time", "session_id")

#: Upper bound for every period-like int parameter. It bounds both the warm-up history a
#: request makes the store read and the O(n * period) TA-Lib functions (LINEARREG, ...).
MAX_PERIOD = 5000


def normalize_key(key: str) -> str:
    """Parameter names compare without case, ``_`` or ``-``: ``fast_period == fastperiod``."""
    return re.sub(r"[_\-\s]", "", key.lower())


def format_number(value: float) -> str:
    """Shortest text that parses back to ``value``: ``2.0 -> "2"``, ``0.85 -> "0.85"``."""
    if isinstance(value, int):
        return str(value)
    if math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


@dataclass(frozen=True, slots=True)
class Param:
    """One numeric parameter. ``advanced`` params (MA types) are listed last in the
    positional grammar and left out of canonical ids while at their default."""

    name: str
    type: str  # "int" | "float"
    default: float
    min: float
    max: float
    aliases: tuple[str, ...] = ()
    choices: tuple[tuple[int, str], ...] = ()
    advanced: bool = False
    description: str = ""

    def coerce(self, value: Any, indicator: str) -> float:
        """Validate one user value; raises ``InvalidIndicator`` saying what is allowed."""
        allowed = self.allowed_text()
        if isinstance(value, str):
            text = value.strip()
            try:
                value = int(text) if re.fullmatch(r"[+-]?\d+", text) else float(text)
            except ValueError:
                raise InvalidIndicator(
                    f"{indicator} parameter '{self.name}' must be a number ({allowed}); "
                    f"got {value!r}"
                ) from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidIndicator(
                f"{indicator} parameter '{self.name}' must be a number ({allowed}); got {value!r}"
            )
        if not math.isfinite(value):
            raise InvalidIndicator(
                f"{indicator} parameter '{self.name}' must be finite ({allowed}); got {value}"
            )
        if self.type == "int":
            if float(value) != int(value):
                raise InvalidIndicator(
                    f"{indicator} parameter '{self.name}' must be an integer ({allowed}); "
                    f"got {value}"
                )
            value = int(value)
        else:
            value = float(value)
        if self.choices and value not in dict(self.choices):
            raise InvalidIndicator(
                f"{indicator} parameter '{self.name}' must be one of {allowed}; got {value}"
            )
        if not self.min <= value <= self.max:
            raise InvalidIndicator(
                f"{indicator} parameter '{self.name}' is out of range ({allowed}); "
                f"got {format_number(value)}"
            )
        return value

    def allowed_text(self) -> str:
        if self.choices:
            return ", ".join(f"{k}={v}" for k, v in self.choices)
        kind = "integer" if self.type == "int" else "number"
        return f"{kind} from {format_number(self.min)} to {format_number(self.max)}"

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "default": self.default,
            "min": self.min,
            "max": self.max,
        }
        if self.choices:
            out["choices"] = {str(k): v for k, v in self.choices}
        if self.aliases:
            out["aliases"] = list(self.aliases)
        if self.description:
            out["description"] = self.description
        return out


@dataclass(frozen=True, slots=True)
class SourceSlot:
    """A series input the user may replace (``EMA_9(hl2)``); ``default`` is a field name,
    or ``None`` when the input has no sensible default (MAVP's ``periods``)."""

    name: str
    default: str | None


@dataclass(frozen=True, eq=False)
class IndicatorDef:
    """Everything the parser, engine and UI need to know about one indicator.

    ``slots`` lists the function's positional series inputs in call order: a plain string
    is a fixed bar field (``"high"``, ``"volume"``, ``"session_id"``), a ``SourceSlot`` is
    user-replaceable. ``func(*series, *call_params(params))`` returns one array or a tuple
    in ``outputs`` order. ``lookback(params)`` is the number of leading NaNs on clean
    input (TA-Lib's lookback); ``memory(params)`` the extra bars a recursive state needs
    (see ``memory.py``).
    """

    name: str
    title: str
    group: str
    params: tuple[Param, ...]
    outputs: tuple[str, ...]
    slots: tuple[str | SourceSlot, ...]
    func: Callable[..., Any]
    call_params: Callable[[tuple], tuple]
    lookback: Callable[[tuple], int]
    memory: Callable[[tuple], int]
    overlay: bool
    kind: str = "line"  # "line" | "pattern"
    path_dependent: bool = False
    anchor: str | None = None  # "session" | "bar" | "period": see engine.warmup_bars
    implementation: str = "talib"
    aliases: tuple[str, ...] = ()
    description: str = ""
    _param_index: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        index: dict[str, int] = {}
        for i, p in enumerate(self.params):
            for key in (p.name, *p.aliases):
                index.setdefault(normalize_key(key), i)
        object.__setattr__(self, "_param_index", index)

    @property
    def sources(self) -> tuple[SourceSlot, ...]:
        return tuple(s for s in self.slots if isinstance(s, SourceSlot))

    @property
    def defaults(self) -> tuple:
        return tuple(p.default for p in self.params)

    def param_position(self, key: str) -> int | None:
        return self._param_index.get(normalize_key(key))

    def signature(self) -> str:
        """``MACD_fast_slow_signal``: how the positional string form reads."""
        return "_".join([self.name, *(p.name for p in self.params)])

    def describe(self) -> dict[str, Any]:
        """JSON-able metadata for the indicator picker and the API docs."""
        return {
            "name": self.name,
            "title": self.title,
            "group": self.group,
            "kind": self.kind,
            "overlay": self.overlay,
            "params": [p.describe() for p in self.params],
            "outputs": list(self.outputs),
            "inputs": [s if isinstance(s, str) else s.name for s in self.slots],
            "sources": [{"name": s.name, "default": s.default} for s in self.sources],
            "path_dependent": self.path_dependent,
            "anchor": self.anchor,
            "implementation": self.implementation,
            "aliases": list(self.aliases),
            "signature": self.signature(),
            "description": self.description,
        }


class Registry(Mapping[str, IndicatorDef]):
    """Name (upper case) -> definition, with aliases resolved by ``resolve``."""

    def __init__(self, defs: list[IndicatorDef]) -> None:
        self._defs: dict[str, IndicatorDef] = {}
        self._aliases: dict[str, str] = {}
        for d in defs:
            self._defs[d.name] = d
        for d in defs:
            for alias in d.aliases:
                self._aliases[alias.upper()] = d.name

    def __getitem__(self, name: str) -> IndicatorDef:
        return self._defs[name]

    def __iter__(self):
        return iter(self._defs)

    def __len__(self) -> int:
        return len(self._defs)

    def resolve(self, name: str) -> IndicatorDef:
        """Case-insensitive lookup; unknown names list the closest known ones."""
        key = name.strip().upper()
        d = self._defs.get(key)
        if d is None and key in self._aliases:
            d = self._defs[self._aliases[key]]
        if d is None:
            candidates = list(self._defs) + list(self._aliases)
            close = difflib.get_close_matches(key, candidates, n=5, cutoff=0.6)
            hint = (
                f"; did you mean {', '.join(close)}?"
                if close
                else "; see the indicator list for valid names"
            )
            raise InvalidIndicator(f"Unknown indicator '{name}'{hint}")
        return d


@functools.cache
def get_registry() -> Registry:
    """Built once per process (about 20 ms: TA-Lib metadata plus parameter probing)."""
    from .custom import custom_definitions
    from .talib_defs import talib_definitions

    custom = custom_definitions()
    taken = {d.name for d in custom} | {a.upper() for d in custom for a in d.aliases}
    defs = [d for d in talib_definitions() if d.name not in taken] + custom
    return Registry(defs)


def get_indicator(name: str) -> IndicatorDef:
    return get_registry().resolve(name)


def list_indicators() -> list[dict[str, Any]]:
    """Metadata of every registered indicator, sorted by group then name."""
    reg = get_registry()
    return [reg[n].describe() for n in sorted(reg, key=lambda n: (reg[n].group, n))]
