"""Bars in: Sierra Chart's JSON (single and batch, SPEC section 3) and imported OHLCV.

Bars are stored at their own ``seconds_per_bar`` (last write wins for a re-sent bar) and
rolled up to 1m/1h. Naive Sierra timestamps are read in the feed key's time zone.
"""

from __future__ import annotations

import math
import re
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
from django.conf import settings

from apps.marketdata import broadcast
from apps.marketdata.ingest.errors import InvalidRows, PayloadError, RowError, TooLarge
from apps.marketdata.store import db, writes
from apps.marketdata.timeframes import label_for_seconds

FUTURE_LIMIT_S = 86_400
MAX_SECONDS_PER_BAR = 7 * 86_400
PRICE_FIELDS = ("open", "high", "low", "close")
VOLUME_FIELDS = ("volume", "bid_volume", "ask_volume")
_FORMATS = ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S")
# What Sierra Chart sends on every bar; read without strptime (two tries, ~15 us).
_PLAIN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")


@dataclass(frozen=True)
class SierraBatch:
    symbol: str
    bars_by_res: dict[int, dict[str, np.ndarray]]
    received: int

    @property
    def timeframe(self) -> str:
        return label_for_seconds(min(self.bars_by_res)) if self.bars_by_res else "1s"


def parse_timestamp(value, tz: ZoneInfo) -> datetime:
    if not isinstance(value, str):
        raise ValueError("timestamp must be a string")
    text = value.strip()
    if _PLAIN.fullmatch(text):
        try:
            return datetime(
                int(text[0:4]),
                int(text[5:7]),
                int(text[8:10]),
                int(text[11:13]),
                int(text[14:16]),
                int(text[17:19]),
                tzinfo=tz,
            )
        except ValueError:
            pass  # out of range: strptime and fromisoformat reject it and word the error
    for fmt in _FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=tz)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text[:40]!r} is not 'YYYY-MM-DD HH:MM:SS[.ffffff]' or ISO-8601"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


def _number(bar: dict, field: str, index: int, errors: list[RowError], *, required=True):
    value = bar.get(field)
    if value is None and not required:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        errors.append(RowError(index, field, f"{field} must be a number"))
        return math.nan
    if not math.isfinite(value):
        errors.append(RowError(index, field, f"{field} must be finite"))
        return math.nan
    return float(value)


def _check_bar(values: dict, index: int, errors: list[RowError]) -> None:
    o, h, lo, c = (values[f] for f in PRICE_FIELDS)
    if any(math.isnan(v) for v in (o, h, lo, c)):
        return
    if h < max(o, c):
        errors.append(RowError(index, "high", "high < max(open, close)"))
    if lo > min(o, c):
        errors.append(RowError(index, "low", "low > min(open, close)"))
    if h < lo:
        errors.append(RowError(index, "high", "high < low"))
    for field in (*VOLUME_FIELDS, "number_of_trades"):
        if values.get(field, 0) < 0:
            errors.append(RowError(index, field, f"{field} must not be negative"))
    volume, bid, ask = values["volume"], values["bid_volume"], values["ask_volume"]
    if volume >= 0 and bid + ask > volume + max(1e-6, 1e-9 * volume):
        errors.append(RowError(index, "bid_volume", "bid_volume + ask_volume > volume"))


def _parse_bar(
    bar, index: int, metadata: dict, now: float, tz: ZoneInfo, errors: list[RowError]
) -> tuple[str | None, int | None, dict | None]:
    """One Sierra Chart bar: its symbol, its seconds per bar and its values (``ts``: epoch
    seconds), each None when invalid; every problem found is added to ``errors``."""
    if not isinstance(bar, dict):
        errors.append(RowError(index, "bar", "each bar must be an object"))
        return None, None, None
    info = bar.get("chart_info") if isinstance(bar.get("chart_info"), dict) else {}
    symbol = info.get("symbol") or metadata.get("symbol")
    if not isinstance(symbol, str) or not symbol.strip():
        errors.append(RowError(index, "chart_info.symbol", "symbol is required"))
        symbol = None
    else:
        symbol = symbol.strip().upper()
    res = info.get("seconds_per_bar", metadata.get("seconds_per_bar", 1))
    if isinstance(res, bool) or not isinstance(res, int) or not 1 <= res <= MAX_SECONDS_PER_BAR:
        errors.append(
            RowError(
                index,
                "chart_info.seconds_per_bar",
                f"unknown timeframe: seconds_per_bar must be an integer "
                f"from 1 to {MAX_SECONDS_PER_BAR}",
            )
        )
        res = None
    values = {f: _number(bar, f, index, errors) for f in (*PRICE_FIELDS, "volume")}
    for field in ("bid_volume", "ask_volume", "number_of_trades"):
        values[field] = _number(bar, field, index, errors, required=False)
        values[field] = 0.0 if math.isnan(values[field]) else values[field]
    values["open_interest"] = _number(bar, "open_interest", index, errors, required=False)
    try:
        ts = parse_timestamp(bar.get("timestamp"), tz).timestamp()
        if ts > now + FUTURE_LIMIT_S:
            errors.append(
                RowError(index, "timestamp", "timestamp is more than 1 day in the future")
            )
    except ValueError as exc:
        errors.append(RowError(index, "timestamp", str(exc)))
        ts = math.nan
    _check_bar(values, index, errors)
    if res is None or math.isnan(ts):
        return symbol, res, None
    values["ts"] = ts
    return symbol, res, values


def parse_sierra(bars: list, metadata: dict | None, tz: ZoneInfo) -> SierraBatch:
    """Validate Sierra Chart bars; raise ``InvalidRows`` with every problem found."""
    if not isinstance(bars, list) or not bars:
        raise PayloadError("'data' must be a non-empty array of bars")
    if len(bars) > settings.INGEST_MAX_BATCH_ROWS:
        raise TooLarge(
            f"{len(bars)} bars in one request; the limit is {settings.INGEST_MAX_BATCH_ROWS}"
        )
    metadata = metadata if isinstance(metadata, dict) else {}
    errors: list[RowError] = []
    symbols: set[str] = set()
    grouped: dict[int, list[dict]] = defaultdict(list)
    now = time.time()
    for index, bar in enumerate(bars):
        symbol, res, values = _parse_bar(bar, index, metadata, now, tz, errors)
        if symbol is not None:
            symbols.add(symbol)
        if values is not None:
            grouped[res].append(values)
    if len(symbols) > 1:
        errors.append(
            RowError(
                0,
                "chart_info.symbol",
                f"one batch must hold one symbol, got {', '.join(sorted(symbols))}",
            )
        )
    if errors:
        raise InvalidRows(errors, total=len(bars))
    return SierraBatch(
        symbol=symbols.pop(),
        bars_by_res={res: _columns(rows, res) for res, rows in grouped.items()},
        received=len(bars),
    )


@dataclass(frozen=True)
class SierraBar:
    """One validated Sierra Chart bar (the single-bar POST), as plain numbers."""

    symbol: str
    res: int
    ts: int  # the bar's start, epoch seconds (a multiple of ``res``)
    values: dict  # PRICE_FIELDS, VOLUME_FIELDS, number_of_trades, open_interest (NaN: none)

    @property
    def timeframe(self) -> str:
        return label_for_seconds(self.res)

    def as_batch(self) -> SierraBatch:
        return SierraBatch(self.symbol, {self.res: _columns([self.values], self.res)}, 1)


def parse_sierra_one(bar: dict, tz: ZoneInfo) -> SierraBar:
    """``parse_sierra([bar], None, tz)`` without the column arrays (a tenth of the time for
    one bar): the same rules, the same errors."""
    errors: list[RowError] = []
    symbol, res, values = _parse_bar(bar, 0, {}, time.time(), tz, errors)
    if errors:
        raise InvalidRows(errors, total=1)
    # the slot exactly as ``_columns`` floors it (float division, then floor)
    return SierraBar(symbol, res, math.floor(values["ts"] / res) * res, values)


def _columns(rows: list[dict], res: int) -> dict[str, np.ndarray]:
    """Column arrays; timestamps floored to the bar size, a re-sent bar (same slot) kept
    last (last write wins inside the batch too)."""
    ts_s = np.array([row["ts"] for row in rows], dtype=np.float64)
    slot = (np.floor(ts_s / res) * res).astype(np.int64)
    _, last = np.unique(slot[::-1], return_index=True)
    keep = np.sort(len(rows) - 1 - last)
    out = {"ts_ns": slot[keep] * 10**9}
    for field in (*PRICE_FIELDS, *VOLUME_FIELDS, "open_interest"):
        out[field] = np.array([rows[i][field] for i in keep], dtype=np.float64)
    out["trades"] = np.array([rows[i]["number_of_trades"] for i in keep], dtype=np.int64)
    return out


def ingest_one_bar(symbol, bar: SierraBar, *, publish: bool = True) -> int:
    """Store one bar (Sierra Chart's live single bar): one round trip, committed on return,
    then published. Inside a caller's transaction it takes the batch path, which publishes
    on commit."""
    if db.connection().in_atomic_block:
        return ingest_bars(symbol, bar.as_batch(), publish=publish)
    values = bar.values
    writes.write_one_bar(
        symbol.id, bar.res, bar.ts, values | {"trades": values["number_of_trades"]}
    )
    if publish:
        # one-element columns, the shape publish_bar reads
        column = {"ts_ns": (bar.ts * 10**9,)} | {f: (values[f],) for f in _PUBLISHED}
        broadcast.publish_bar(symbol.symbol, bar.res, column)
    return 1


_PUBLISHED = (*PRICE_FIELDS, *VOLUME_FIELDS)


def ingest_bars(symbol, batch: SierraBatch, *, publish: bool = True) -> int:
    """Store every resolution of the batch atomically; return bars stored."""
    only = list(batch.bars_by_res.items())
    if len(only) == 1 and len(only[0][1]["ts_ns"]) == 1 and not db.connection().in_atomic_block:
        # a batch of one bar: one round trip, committed on return
        res, columns = only[0]
        one = {name: column[0] for name, column in columns.items() if name != "ts_ns"}
        writes.write_one_bar(symbol.id, res, int(columns["ts_ns"][0]) // 10**9, one)
        if publish:
            broadcast.publish_bar(symbol.symbol, res, columns)
        return 1
    stored = 0
    with db.atomic():
        for res, columns in sorted(batch.bars_by_res.items()):
            stored += writes.write_bars(symbol.id, res, columns).stored
        if publish and stored:
            last = {
                res: {k: v[-1:] for k, v in cols.items()} for res, cols in batch.bars_by_res.items()
            }
            finest = min(last)
            db.on_commit(lambda: broadcast.publish_bar(symbol.symbol, finest, last[finest]))
    return stored


def validate_bar_columns(bars: dict[str, np.ndarray]) -> None:
    """The bar rules of SPEC section 3 over column arrays (imports): raise InvalidRows."""
    errors: list[RowError] = []
    fields = (*PRICE_FIELDS, *VOLUME_FIELDS)
    for field in fields:
        for index in np.flatnonzero(~np.isfinite(bars[field])):
            errors.append(RowError(int(index), field, f"{field} must be finite"))
    for field in VOLUME_FIELDS:
        for index in np.flatnonzero(bars[field] < 0):
            errors.append(RowError(int(index), field, f"{field} must not be negative"))
    o, h, lo, c = (bars[f] for f in PRICE_FIELDS)
    for index in np.flatnonzero(h < np.maximum(o, c)):
        errors.append(RowError(int(index), "high", "high < max(open, close)"))
    for index in np.flatnonzero(lo > np.minimum(o, c)):
        errors.append(RowError(int(index), "low", "low > min(open, close)"))
    excess = bars["bid_volume"] + bars["ask_volume"] - bars["volume"]
    for index in np.flatnonzero(excess > np.maximum(1e-6, 1e-9 * bars["volume"])):
        errors.append(RowError(int(index), "bid_volume", "bid_volume + ask_volume > volume"))
    future = (time.time() + FUTURE_LIMIT_S) * 1e9
    for index in np.flatnonzero(bars["ts_ns"] > future):
        errors.append(
            RowError(int(index), "timestamp", "timestamp is more than 1 day in the future")
        )
    if errors:
        raise InvalidRows(errors, total=len(bars["ts_ns"]))


def ingest_bar_columns(
    symbol, res: int, bars: dict[str, np.ndarray], *, publish: bool = False
) -> int:
    """Validate and store imported bars of ``res`` seconds (.scid, OHLCV CSV), atomically."""
    if not 1 <= res <= MAX_SECONDS_PER_BAR:
        raise InvalidRows([RowError(0, "seconds_per_bar", "unknown timeframe")])
    validate_bar_columns(bars)
    with db.atomic():
        stored = writes.write_bars(symbol.id, res, bars).stored
        if publish and stored:
            last = {k: v[-1:] for k, v in bars.items()}
            db.on_commit(lambda: broadcast.publish_bar(symbol.symbol, res, last))
    return stored
