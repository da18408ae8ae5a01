"""Compute indicator specs over bars: the hot path of the REST batch and WebSocket stream.

``bars`` is a dict of equal-length arrays: ``open high low close volume`` (float64),
``time`` (int64 epoch seconds) and optionally ``session_id`` (int, one value per session;
when absent, sessions are UTC days of ``time``). Only the fields an indicator reads must be
present.

Per-call overhead is kept to a dict lookup and a direct ``talib.<FUNC>`` call: parsed specs
(``spec._parse_string``) and call plans (``_plan``) are cached per canonical id, TA-Lib's
abstract API (slow, stateful) is only used for metadata and lookbacks, and
``compute_many`` evaluates every distinct spec and sub-spec (``EMA_9(RSI_14)`` and
``RSI_14``) once per request.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InvalidIndicator
from .registry import BASE_FIELDS
from .spec import IndicatorSpec, parse_spec

_PLAN_CACHE_LIMIT = 8192


@dataclass(frozen=True, slots=True)
class IndicatorResult:
    """One computed indicator.

    ``outputs`` maps output name -> float64 array as long as the bars (NaN during
    warm-up). Patterns (``kind == "pattern"``) also carry ``markers``: one
    ``{"index", "time", "value"}`` per bar where the pattern fired (TA-Lib's score: +100
    bullish, -100 bearish, +-80 for weaker variants, +-200 when confirmed); ``time`` is
    present when the bars had one.
    """

    id: str
    name: str
    kind: str
    overlay: bool
    outputs: dict[str, np.ndarray]
    markers: list[dict[str, int]] | None = None

    @property
    def value(self) -> np.ndarray:
        """The first output (the whole result for single-output indicators)."""
        return next(iter(self.outputs.values()))


class _Plan:
    """Everything needed to run one spec, resolved once per canonical id."""

    __slots__ = ("call_params", "definition", "func", "int_lookback", "slots", "spec")

    def __init__(self, spec: IndicatorSpec) -> None:
        d = spec.definition
        self.spec = spec
        self.definition = d
        self.func = d.func
        self.call_params = tuple(d.call_params(spec.params))
        sources = iter(spec.sources)
        slots: list[Any] = []
        for slot in d.slots:
            if isinstance(slot, str):
                slots.append(slot)
            else:
                src = next(sources)
                if isinstance(src, str):
                    slots.append(src)
                else:
                    slots.append((src, src.definition.outputs.index(src.output or src.outputs[0])))
        self.slots = tuple(slots)
        self.int_lookback: int | None = None


_plans: dict[str, _Plan] = {}
_plans_lock = threading.Lock()


def _plan(spec: IndicatorSpec) -> _Plan:
    plan = _plans.get(spec.base_id)
    if plan is None:
        plan = _Plan(spec)
        with _plans_lock:
            if len(_plans) >= _PLAN_CACHE_LIMIT:
                _plans.clear()
            _plans[spec.base_id] = plan
    return plan


def _evaluate(plan: _Plan, args: list[np.ndarray]) -> tuple[np.ndarray, ...]:
    """Call the indicator function and normalise its outputs to float64 arrays."""
    d = plan.definition
    try:
        raw = plan.func(*args, *plan.call_params)
    except Exception as exc:
        if d.implementation != "talib":
            raise
        # TA-Lib rejects parameter combinations it cannot honour (e.g. MAVP with
        # min_period > max_period) with a bare Exception carrying TA_BAD_PARAM.
        raise InvalidIndicator(f"{plan.spec.id}: TA-Lib rejected the parameters ({exc})") from None
    if not isinstance(raw, tuple):
        raw = (raw,)
    if all(r.dtype == np.float64 for r in raw):
        return raw
    out = []
    for r in raw:
        if r.dtype != np.float64:
            r = r.astype(np.float64)
            if d.kind != "pattern":
                # Integer outputs (MAXINDEX, HT_TRENDMODE) come back as 0 during warm-up.
                r[: _first_valid(plan, args)] = np.nan
        out.append(r)
    return tuple(out)


def _first_valid(plan: _Plan, args: list[np.ndarray]) -> int:
    if plan.int_lookback is None:
        plan.int_lookback = plan.definition.lookback(plan.spec.params)
    start = 0
    for a in args:
        if a.dtype.kind == "f" and len(a):
            finite = np.flatnonzero(np.isfinite(a))
            start = max(start, int(finite[0]) if finite.size else len(a))
    return start + plan.int_lookback


class _Context:
    """One request's bars, derived fields and computed specs."""

    __slots__ = ("_bars", "_cache", "_fields", "n")

    def __init__(self, bars: Mapping[str, Any]) -> None:
        if not isinstance(bars, Mapping):
            raise TypeError("bars must be a mapping of field name -> array")
        self._bars = bars
        self._fields: dict[str, np.ndarray] = {}
        self._cache: dict[str, tuple[np.ndarray, ...]] = {}
        sizes = {k: len(v) for k, v in bars.items() if v is not None}
        if len(set(sizes.values())) > 1:
            raise ValueError(f"bars arrays must have equal lengths; got {sizes}")
        self.n = next(iter(sizes.values()), 0)

    def field(self, name: str) -> np.ndarray:
        arr = self._fields.get(name)
        if arr is None:
            arr = self._fields[name] = self._load(name)
        return arr

    def _load(self, name: str) -> np.ndarray:
        bars = self._bars
        if name in BASE_FIELDS:
            if bars.get(name) is None:
                raise ValueError(f"bars have no '{name}' field, which this indicator needs")
            return np.ascontiguousarray(bars[name], dtype=np.float64)
        if name == "hl2":
            return (self.field("high") + self.field("low")) / 2.0
        if name == "hlc3":
            return (self.field("high") + self.field("low") + self.field("close")) / 3.0
        if name == "ohlc4":
            f = self.field
            return (f("open") + f("high") + f("low") + f("close")) / 4.0
        if name == "time":
            if bars.get("time") is None:
                raise ValueError("bars have no 'time' field, which this indicator needs")
            return np.ascontiguousarray(bars["time"], dtype=np.int64)
        if name == "session_id":
            if bars.get("session_id") is not None:
                return np.ascontiguousarray(bars["session_id"], dtype=np.int64)
            if bars.get("time") is not None:
                return self.field("time") // 86400  # UTC days
            return np.zeros(self.n, dtype=np.int64)
        raise ValueError(f"unknown bar field '{name}'")

    def run(self, spec: IndicatorSpec) -> tuple[np.ndarray, ...]:
        hit = self._cache.get(spec.base_id)
        if hit is not None:
            return hit
        plan = _plan(spec)
        args = [self.field(s) if s.__class__ is str else self.run(s[0])[s[1]] for s in plan.slots]
        outs = _evaluate(plan, args)
        self._cache[spec.base_id] = outs
        return outs

    def result(self, spec: IndicatorSpec) -> IndicatorResult:
        outs = self.run(spec)
        d = spec.definition
        if spec.output:
            outputs = {spec.output: outs[d.outputs.index(spec.output)]}
        else:
            outputs = dict(zip(d.outputs, outs, strict=True))
        markers = None
        if d.kind == "pattern":
            values = next(iter(outputs.values()))
            hits = np.flatnonzero(np.nan_to_num(values))
            has_time = self._bars.get("time") is not None
            times = self.field("time")[hits].tolist() if has_time else None
            vals = values[hits].astype(np.int64).tolist()
            markers = [
                {"index": i, "time": times[k], "value": vals[k]}
                if has_time
                else {"index": i, "value": vals[k]}
                for k, i in enumerate(hits.tolist())
            ]
        return IndicatorResult(spec.id, d.name, d.kind, spec.overlay, outputs, markers)


def compute(spec: str | Mapping | IndicatorSpec, bars: Mapping[str, Any]) -> IndicatorResult:
    """Compute one indicator over ``bars``; raises ``InvalidIndicator`` for bad specs."""
    spec = parse_spec(spec)
    return _Context(bars).result(spec)


def compute_many(
    specs: Iterable[str | Mapping | IndicatorSpec], bars: Mapping[str, Any]
) -> dict[str, IndicatorResult]:
    """Compute several indicators over the same bars, keyed by canonical id.

    Every spec is validated before anything is computed (one bad spec fails the request
    up-front rather than after wasted work). Duplicates (``rsi_14`` and ``RSI_14``) and
    shared sub-specs are computed once.
    """
    parsed = [parse_spec(s) for s in specs]
    ctx = _Context(bars)
    results: dict[str, IndicatorResult] = {}
    for spec in parsed:
        if spec.id not in results:
            results[spec.id] = ctx.result(spec)
    return results


def warmup_bars(spec: str | Mapping | IndicatorSpec) -> int:
    """Bars to fetch *before* the first value a caller wants returned.

    To return the last ``N`` values of ``spec``, compute over the last
    ``N + warmup_bars(spec)`` bars and keep the tail: the tail equals a computation over
    the full history to 1e-9 relative. It is TA-Lib's lookback (the leading NaNs) plus,
    for recursive indicators, the bars their seed needs to decay below 1e-11 (see
    ``memory.py``: about 12.7 x period for EMA stages, 25 x period for Wilder stages),
    summed along source chains (``EMA_9(RSI_14)`` needs RSI's warm-up and then EMA's).

    Exceptions, flagged in the registry:

    * ``definition.path_dependent`` (OBV, AD, ADOSC, SAR, SUPERTREND, CUMSUM, ...): the
      level depends on the first bar (cumulative sums) or on a state machine; the number
      returned is a best effort, not an equality guarantee.
    * ``definition.anchor`` ``"session"``/``"period"``/``"bar"`` (VWAP, PIVOTPOINTS,
      AVWAP): the caller must start the window at a session/period boundary or include the
      anchor bar; the count returned covers only the other indicators in the chain.
    """
    return _warmup(parse_spec(spec))


@functools.lru_cache(maxsize=4096)
def _warmup(spec: IndicatorSpec) -> int:
    d = spec.definition
    upstream = max((_warmup(s) for s in spec.sources if isinstance(s, IndicatorSpec)), default=0)
    return upstream + int(d.lookback(spec.params)) + int(d.memory(spec.params))
