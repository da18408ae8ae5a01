"""Indicator series for the REST API and the live stream: bars, warm-up, compute, cache.

One call serves every spec requested for one (symbol, timeframe):

1. **Probe** the newest bar (one small query). Its time, close and volume are part of
   every cache key, so a tick that changes the current bar, or a new bar, makes the old
   entries unreachable: nothing has to be deleted, they expire after ``CACHE_TTL_S``.
2. **Cache**: one Redis ``MGET`` for all specs. Entries hold the response's JSON
   fragments (``series`` and ``markers``), so a hit is spliced into the response with
   ``orjson.Fragment`` and never parsed or rebuilt. Hits and misses are counted in Redis
   (``STATS_KEY``) for the benchmark and for operators.
3. **Fetch once** what the missing specs need: ``lookback + warmup_bars(spec)`` bars (plus
   a whole session/period for session-anchored indicators), paged through
   ``store.reads.bars`` when that exceeds its 20,000-bar page.
4. **Compute** each spec over its *own* trailing window (``lookback + warm-up``), not over
   everything fetched: the values then equal a full-history computation (the warm-up
   contract of ``analytics.indicators.warmup_bars``) *and* do not depend on which other
   specs shared the request, which is what makes cached entries interchangeable.
   Specs with the same window share one ``compute_many`` (and their sub-specs).

Values of path-dependent indicators (OBV, AD, ...) depend on where their window starts;
they are best-effort, as documented in the library. Anchored ones: a session-anchored
spec (VWAP) starts its window at a session start, pivot points at the start of the
period before the first returned bar; ``AVWAP`` anchors >= 0 index into its window.

Errors: ``InvalidIndicator`` / ``FormulaError`` from the library (400) and
``IndicatorNotFound`` for a ``CUSTOM_<id>`` the caller may not see (404).
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import orjson
import redis

from apps.marketdata.analytics.indicators import (
    FormulaError,
    IndicatorSpec,
    InvalidIndicator,
    compute_many,
    parse_spec,
    warmup_bars,
)
from apps.marketdata.analytics.indicators.custom import PIVOT_WINDOWS, period_ids
from apps.marketdata.indicators import custom_specs
from apps.marketdata.indicators.custom_specs import CustomSpec
from apps.marketdata.store import reads
from apps.marketdata.timeframes import Timeframe
from tradeflow.memo import lazy_redis

logger = logging.getLogger(__name__)

MAX_LOOKBACK = 20_000
#: Hard cap on bars read for one request (lookback + warm-up). EMA_5000 alone would ask
#: for 63,000; beyond the cap the oldest returned values are best-effort.
MAX_FETCH_BARS = 100_000
MAX_SPECS = 100
CACHE_TTL_S = 600
CACHE_PREFIX = "tf:ind:v1"
STATS_KEY = "tf:ind:cache:stats"

Item = IndicatorSpec | CustomSpec


class IndicatorNotFound(Exception):
    """A ``CUSTOM_<id>`` that does not exist or is private to someone else (404)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- specs -------------------------------------------------------------------------------


def resolve_item(value: Any, user) -> Item:
    """A spec string/object, or ``CUSTOM_<id>`` resolved for ``user``."""
    pk = custom_specs.custom_id(value)
    if pk is None:
        return parse_spec(value)
    if not custom_specs.available():
        raise InvalidIndicator("Custom indicators are not available on this server")
    spec = custom_specs.resolve(pk, user)
    if spec is None:
        raise IndicatorNotFound(f"Custom indicator CUSTOM_{pk} not found")
    return spec


def resolve_items(values: Iterable[Any], user) -> list[Item]:
    values = list(values)
    if not values:
        raise InvalidIndicator("Give at least one indicator, e.g. RSI_14")
    if len(values) > MAX_SPECS:  # before resolving: CUSTOM ids cost a query each
        raise InvalidIndicator(f"At most {MAX_SPECS} indicators per request")
    return [resolve_item(v, user) for v in values]


def canonical_id(value: Any) -> str:
    """The id a spec is cached and subscribed under, without touching the database
    (``custom_12`` -> ``CUSTOM_12``); raises ``InvalidIndicator``."""
    pk = custom_specs.custom_id(value)
    return f"CUSTOM_{pk}" if pk is not None else parse_spec(value).id


def item_meta(item: Item) -> dict[str, Any]:
    """The descriptive part of a history entry: canonical id, pane, kind and outputs."""
    if isinstance(item, CustomSpec):
        return {
            "indicator": item.id,
            "overlay": item.overlay,
            "kind": "custom",
            "outputs": ["value"],
            "name": item.name,
        }
    return {
        "indicator": item.id,
        "overlay": item.overlay,
        "kind": item.definition.kind,
        "outputs": list(item.outputs),
    }


def item_warmup(item: Item) -> int:
    return item.warmup if isinstance(item, CustomSpec) else warmup_bars(item)


def _walk(spec: IndicatorSpec):
    yield spec
    for src in spec.sources:
        if isinstance(src, IndicatorSpec):
            yield from _walk(src)


def _anchor(item: Item) -> tuple[str, int] | None:
    """``("session", 0)`` or ``("period", window)`` if a spec in the chain is anchored to a
    calendar boundary; the window must then start at one."""
    if isinstance(item, CustomSpec):
        return None
    found = None
    for spec in _walk(item):
        anchor = spec.definition.anchor
        if anchor == "session" and found is None:
            found = ("session", 0)
        elif anchor == "period":
            window = int(spec.param_dict.get("window", 0))
            if found is None or found[0] == "session" or window > found[1]:
                found = ("period", window)
    return found


_PERIOD_SECONDS = {0: 86_400, 1: 7 * 86_400, 2: 31 * 86_400, 3: 366 * 86_400}
assert set(_PERIOD_SECONDS) == {w for w, _ in PIVOT_WINDOWS}


def _needs_sessions(item: Item) -> bool:
    if isinstance(item, CustomSpec):
        return True  # a formula may call vwap(); cheap enough to always provide
    return any("session_id" in spec.definition.slots for spec in _walk(item))


def fetch_size(item: Item, lookback: int, tf: Timeframe) -> int:
    """Bars to read so that ``lookback`` values of ``item`` are exact."""
    need = lookback + item_warmup(item)
    anchor = _anchor(item)
    if anchor is not None:
        # a whole session (VWAP), or two whole periods (pivots use the previous one)
        # (capped at one store page: on 1s bars a session is 86,400 bars; best effort there)
        seconds = _PERIOD_SECONDS[anchor[1]] * (1 if anchor[0] == "session" else 2)
        need += min(math.ceil(seconds / tf.seconds) + 1, reads.MAX_BARS)
    return min(need, MAX_FETCH_BARS)


# --- bars ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BarMark:
    """What identifies the state of a series for caching: its newest bar."""

    time: int
    close: float
    volume: float

    def key(self) -> str:
        return f"{self.time}:{self.close!r}:{self.volume!r}"


def _epochs(ts: np.ndarray) -> np.ndarray:
    return np.fromiter((t.timestamp() for t in ts), dtype=np.float64, count=len(ts)).astype(
        np.int64
    )


def last_bar(symbol, tf: Timeframe) -> BarMark | None:
    cols = reads.bars(symbol, tf, limit=1)
    if not len(cols["ts"]):
        return None
    return BarMark(
        int(cols["ts"][-1].timestamp()), float(cols["close"][-1]), float(cols["volume"][-1])
    )


_FIELDS = ("open", "high", "low", "close", "volume")
_SECOND = timedelta(seconds=1)


def fetch_bars(symbol, tf: Timeframe, count: int) -> dict[str, np.ndarray]:
    """The newest ``count`` bars as engine columns (``time`` in epoch seconds), paging
    backwards through the store's 20,000-bar reads."""
    count = max(1, min(count, MAX_FETCH_BARS))
    pages: list[dict[str, np.ndarray]] = []
    got, end = 0, None
    while got < count:
        want = min(count - got, reads.MAX_BARS)
        cols = reads.bars(symbol, tf, limit=want, end=end)
        n = len(cols["ts"])
        if not n:
            break
        pages.append(cols)
        got += n
        if n < want:
            break
        end = cols["ts"][0]
    pages.reverse()
    return _engine_columns(pages)


def fetch_since(symbol, tf: Timeframe, start: int, limit: int) -> dict[str, np.ndarray]:
    """Bars opening at or after epoch ``start`` (the newest ``limit`` of them): the live
    stream re-reads only what a tick touched instead of its whole warm-up window."""
    cols = reads.bars(symbol, tf, limit=limit, start=datetime.fromtimestamp(start, UTC))
    return _engine_columns([cols] if len(cols["ts"]) else [])


def _engine_columns(pages: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if not pages:
        return {"time": np.zeros(0, dtype=np.int64)} | {f: np.zeros(0) for f in _FIELDS}
    out = {"time": np.concatenate([_epochs(p["ts"]) for p in pages])}
    for f in _FIELDS:
        out[f] = np.concatenate([p[f] for p in pages]).astype(np.float64, copy=False)
    return out


def add_sessions(symbol, tf: Timeframe, items: Iterable[Item], bars: dict) -> dict:
    """Attach ``session_id`` when any item needs sessions (VWAP, pivots, formulas)."""
    if any(_needs_sessions(item) for item in items):
        bars["session_id"] = session_ids(symbol, tf, bars["time"])
    else:
        bars.pop("session_id", None)
    return bars


def mark_of(bars: dict[str, np.ndarray]) -> BarMark | None:
    if not len(bars["time"]):
        return None
    return BarMark(int(bars["time"][-1]), float(bars["close"][-1]), float(bars["volume"][-1]))


def session_ids(symbol, tf: Timeframe, times: np.ndarray) -> np.ndarray:
    """Trading session of each bar, numbered by trading date (the rule of store/reads.py:
    local time minus the session start, plus a day when the session wraps midnight).
    Session bars (1d, 1w) are each their own session."""
    if tf.is_session:
        return np.arange(len(times), dtype=np.int64)
    session = reads.Session.of(symbol)
    start = int(session.start.total_seconds())
    wrap = 86_400 if session.wraps else 0
    if session.tz in ("UTC", "Etc/UTC") or not len(times):
        local = times
    else:
        zone = ZoneInfo(session.tz)
        hours, inverse = np.unique(times // 3600, return_inverse=True)
        offsets = np.array(
            [
                datetime.fromtimestamp(int(h) * 3600, UTC).astimezone(zone).utcoffset() / _SECOND
                for h in hours
            ],
            dtype=np.int64,
        )
        local = times + offsets[inverse]
    return (local - start + wrap) // 86_400


# --- computation -----------------------------------------------------------------------------


@dataclass(slots=True)
class Computed:
    """``lookback`` (or fewer, when history is short) values of one item, oldest first."""

    item: Item
    times: np.ndarray
    outputs: dict[str, np.ndarray]
    markers: list[dict[str, int]] | None


def _window_start(item: Item, lookback: int, bars: dict[str, np.ndarray]) -> int:
    n = len(bars["time"])
    start = max(0, n - lookback - item_warmup(item))
    anchor = _anchor(item)
    if anchor is None or start == 0:
        return start
    ids = bars["session_id"]
    if anchor[0] == "period":
        ids = period_ids(bars["time"], ids, anchor[1])
    seg = int(np.searchsorted(ids, ids[start], side="left"))
    if anchor[0] == "period" and seg > 0:  # pivots need the whole previous period too
        seg = int(np.searchsorted(ids, ids[seg - 1], side="left"))
    return seg


def compute_items(
    requests: Sequence[tuple[Item, int]], bars: dict[str, np.ndarray], *, strict: bool = True
) -> list[Computed]:
    """Compute each (item, lookback) over its own trailing window of ``bars``.

    ``bars`` must hold ``session_id`` when any item needs sessions (``prepare_bars``).
    With ``strict=False`` (the live stream) a formula that fails (its time limit) yields
    NaN instead of failing every other spec computed alongside it.
    """
    n = len(bars["time"])
    groups: dict[int, list[int]] = {}
    for i, (item, lookback) in enumerate(requests):
        groups.setdefault(_window_start(item, lookback, bars) if n else 0, []).append(i)
    out: list[Computed | None] = [None] * len(requests)
    for start, indexes in groups.items():
        window = {k: v[start:] for k, v in bars.items()}
        specs = [requests[i][0] for i in indexes if isinstance(requests[i][0], IndicatorSpec)]
        results = compute_many(specs, window) if specs and n else {}
        for i in indexes:
            item, lookback = requests[i]
            tail = min(lookback, n - start)
            if isinstance(item, CustomSpec):
                values = _evaluate_formula(item, window, strict) if n else np.zeros(0)
                outputs = {"value": values[len(values) - tail :]}
                markers = None
            elif not n:
                outputs = {name: np.zeros(0) for name in item.outputs}
                markers = [] if item.definition.kind == "pattern" else None
            else:
                result = results[item.id]
                outputs = {k: v[len(v) - tail :] for k, v in result.outputs.items()}
                markers = None
                if result.markers is not None:
                    first = len(window["time"]) - tail
                    last = len(window["time"]) - 1
                    markers = [
                        {"time": m["time"], "value": m["value"], "candles_back": last - m["index"]}
                        for m in result.markers
                        if m["index"] >= first
                    ]
            times = bars["time"][n - tail :] if n else np.zeros(0, dtype=np.int64)
            out[i] = Computed(item, times, outputs, markers)
    return out  # type: ignore[return-value]


def _evaluate_formula(item: CustomSpec, window: dict, strict: bool) -> np.ndarray:
    try:
        return item.formula.evaluate(window)
    except FormulaError:
        if strict:
            raise
        logger.warning("custom indicator %s failed in the stream", item.id, exc_info=True)
        return np.full(len(window["time"]), np.nan)


def prepare_bars(symbol, tf: Timeframe, items: Iterable[Item], count: int) -> dict:
    return add_sessions(symbol, tf, items, fetch_bars(symbol, tf, count))


# --- JSON fragments and the cache ------------------------------------------------------------


def series_json(computed: Computed) -> bytes:
    """``[{"time", "value", "candles_back", <output>: v ...}]``; NaN becomes null."""
    times = computed.times.tolist()
    n = len(times)
    back = range(n - 1, -1, -1)
    names = list(computed.outputs)
    if len(names) == 1:
        values = computed.outputs[names[0]].tolist()
        rows = [
            {"time": t, "value": v, "candles_back": b}
            for t, v, b in zip(times, values, back, strict=True)
        ]
    else:
        columns = [computed.outputs[k].tolist() for k in names]
        rows = []
        for t, b, *vals in zip(times, back, *columns, strict=True):
            row = {"time": t, "value": vals[0], "candles_back": b}
            row.update(zip(names, vals, strict=True))
            rows.append(row)
    return orjson.dumps(rows)


@dataclass(slots=True)
class SeriesPayload:
    """One (item, lookback) answer: JSON fragments ready to splice, and whether it came
    from the cache."""

    item: Item
    lookback: int
    series: bytes
    markers: bytes | None
    cached: bool

    def fragments(self) -> dict[str, Any]:
        out: dict[str, Any] = item_meta(self.item)
        out["series"] = orjson.Fragment(self.series)
        if self.markers is not None:
            out["markers"] = orjson.Fragment(self.markers)
        return out

    def points(self) -> list[dict[str, Any]]:
        return orjson.loads(self.series)


def _encode(series: bytes, markers: bytes | None) -> bytes:
    # orjson never emits a raw newline, so it safely separates the two parts
    return series + b"\n" + (markers if markers is not None else b"")


def _decode(item: Item, lookback: int, raw: bytes) -> SeriesPayload:
    series, _, markers = raw.partition(b"\n")
    return SeriesPayload(item, lookback, series, markers or None, cached=True)


def _item_key(item: Item) -> str:
    return f"{item.id}@{item.version}" if isinstance(item, CustomSpec) else item.id


def cache_key(symbol, tf: Timeframe, mark: BarMark, item: Item, lookback: int) -> str:
    digest = hashlib.blake2b(
        f"{mark.key()}|{lookback}|{_item_key(item)}".encode(), digest_size=16
    ).hexdigest()
    return f"{CACHE_PREFIX}:{symbol.id}:{tf.name}:{digest}"


redis_client = lazy_redis()


def _mget(keys: list[str]) -> list[bytes | None]:
    try:
        return redis_client().mget(keys)
    except redis.RedisError:  # the cache is an optimisation: compute instead
        logger.warning("indicator cache unavailable", exc_info=True)
        return [None] * len(keys)


def _store(entries: dict[str, bytes], hits: int, misses: int) -> None:
    try:
        pipe = redis_client().pipeline(transaction=False)
        for key, value in entries.items():
            pipe.set(key, value, ex=CACHE_TTL_S)
        if hits:
            pipe.hincrby(STATS_KEY, "hits", hits)
        if misses:
            pipe.hincrby(STATS_KEY, "misses", misses)
        pipe.execute()
    except redis.RedisError:
        logger.warning("indicator cache unavailable", exc_info=True)


def cache_stats() -> dict[str, int]:
    raw = redis_client().hgetall(STATS_KEY)
    return {k.decode(): int(v) for k, v in raw.items()}


def reset_cache_stats() -> None:
    redis_client().delete(STATS_KEY)


def clear_cache() -> int:
    """Delete every cached series (operators, benchmarks); returns the count."""
    client = redis_client()
    deleted = 0
    batch: list[bytes] = []
    for key in client.scan_iter(match=f"{CACHE_PREFIX}:*", count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            deleted += client.delete(*batch)
            batch.clear()
    if batch:
        deleted += client.delete(*batch)
    return deleted


def _payload(computed: Computed, lookback: int) -> SeriesPayload:
    markers = None if computed.markers is None else orjson.dumps(computed.markers)
    return SeriesPayload(computed.item, lookback, series_json(computed), markers, cached=False)


def _empty_bars() -> dict[str, np.ndarray]:
    return {"time": np.zeros(0, dtype=np.int64), "session_id": np.zeros(0, dtype=np.int64)} | {
        f: np.zeros(0) for f in _FIELDS
    }


def series(symbol, tf: Timeframe, requests: Sequence[tuple[Item, int]]) -> list[SeriesPayload]:
    """The answers to every (item, lookback) of one symbol and timeframe, cached."""
    mark = last_bar(symbol, tf)
    if mark is None:  # nothing stored: nothing to compute or cache
        return [
            _payload(c, lb)
            for c, (_, lb) in zip(compute_items(requests, _empty_bars()), requests, strict=True)
        ]
    keys = [cache_key(symbol, tf, mark, item, lb) for item, lb in requests]
    raw = _mget(keys)
    out: list[SeriesPayload | None] = [
        None if r is None else _decode(item, lb, r)
        for r, (item, lb) in zip(raw, requests, strict=True)
    ]
    missing = [i for i, r in enumerate(out) if r is None]
    if not missing:
        _store({}, len(requests), 0)
        return out  # type: ignore[return-value]
    need = max(fetch_size(*requests[i], tf) for i in missing)
    bars = prepare_bars(symbol, tf, [requests[i][0] for i in missing], need)
    used = mark_of(bars)
    if used != mark:
        # The series moved between the probe and the read: answer everything from the
        # bars just read (one consistent state) and cache it under their newest bar.
        missing = list(range(len(requests)))
        need_all = max(fetch_size(item, lb, tf) for item, lb in requests)
        if need_all > need:
            bars = fetch_bars(symbol, tf, need_all)
        if "session_id" not in bars and any(_needs_sessions(item) for item, _ in requests):
            bars["session_id"] = session_ids(symbol, tf, bars["time"])
        used = mark_of(bars)
        if used is None:
            bars = _empty_bars()
        else:
            keys = [cache_key(symbol, tf, used, item, lb) for item, lb in requests]
    computed = compute_items([requests[i] for i in missing], bars)
    entries = {}
    for i, result in zip(missing, computed, strict=True):
        payload = _payload(result, requests[i][1])
        out[i] = payload
        if used is not None:
            entries[keys[i]] = _encode(payload.series, payload.markers)
    _store(entries, len(requests) - len(missing), len(missing))
    return out  # type: ignore[return-value]


def values_at(payload: SeriesPayload, candles_back: int) -> dict[str, Any] | None:
    """The point ``candles_back`` bars before the newest one, or ``None`` if history is
    shorter."""
    points = payload.points()
    if candles_back >= len(points):
        return None
    return points[len(points) - 1 - candles_back]
