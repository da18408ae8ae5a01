"""Trades in: parse (row or column form), validate, deduplicate, classify, store, publish.

Every feed (HTTP, .scid import, CSV import, replay, Binance, the demo simulator) ends in
``ingest_ticks`` so they all share the same semantics (SPEC section 3):

* a batch is all-or-nothing: any invalid row raises ``InvalidRows`` and nothing is stored;
* a trade (time and id) seen twice in one batch keeps the later row; a trade already
  stored (same symbol, time and id) is skipped, so replays are harmless;
* a missing side is classified by the tick rule against the previous trade (the last
  stored one before the batch, then the batch in time order; with no history the first
  trade counts as a buy), and the result counts how many sides were inferred.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
from django.conf import settings

from apps.marketdata import broadcast
from apps.marketdata.analytics.orderflow.aggressor import classify_aggressor
from apps.marketdata.ingest.errors import InvalidRows, PayloadError, RowError, TooLarge
from apps.marketdata.store import db, sql, writes
from apps.marketdata.ticks import BUY, SELL, UNKNOWN, TickBatch

FUTURE_LIMIT_NS = 86_400 * 10**9  # timestamps more than a day ahead are refused
_SIDES = {"buy": BUY, "b": BUY, "sell": SELL, "s": SELL, "a": SELL}


@dataclass(frozen=True)
class TickIngestResult:
    received: int
    stored: int
    duplicates: int
    inferred: int

    def body(self, symbol: str) -> dict:
        return {
            "status": "success",
            "symbol": symbol,
            "ticks_received": self.received,
            "ticks_stored": self.stored,
            "duplicates_skipped": self.duplicates,
            "sides_inferred": self.inferred,
        }


# --- parsing -----------------------------------------------------------------------------


def _parse_ts(value, tz: ZoneInfo, index: int, errors: list[RowError]) -> int:
    if isinstance(value, bool) or value is None:
        errors.append(RowError(index, "ts", "timestamp is required"))
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            errors.append(RowError(index, "ts", "timestamp is not finite"))
            return 0
        return int(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            errors.append(RowError(index, "ts", f"{value[:40]!r} is not ISO-8601 or epoch ns"))
            return 0
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=tz)
        return int(parsed.timestamp()) * 10**9 + parsed.microsecond * 1000
    errors.append(RowError(index, "ts", "timestamp must be an ISO string or epoch nanoseconds"))
    return 0


def _parse_number(value, field: str, index: int, errors: list[RowError]) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        errors.append(RowError(index, field, f"{field} must be a number"))
        return math.nan
    try:
        number = float(value)
    except ValueError:
        errors.append(RowError(index, field, f"{field} must be a number"))
        return math.nan
    return number


def _parse_side(value, index: int, errors: list[RowError]) -> int:
    if value is None or value == "":
        return UNKNOWN
    side = _SIDES.get(str(value).strip().lower()) if isinstance(value, str) else None
    if side is None:
        errors.append(RowError(index, "side", "side must be 'buy', 'sell' or null"))
        return UNKNOWN
    return side


def _parse_id(value, index: int, errors: list[RowError]) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        errors.append(RowError(index, "id", "id must be a string or an integer"))
        return None
    text = str(value)
    if not text or len(text) > 64:
        errors.append(RowError(index, "id", "id must be 1-64 characters"))
    return text


def _column(payload: dict, name: str, n: int, required: bool) -> list:
    values = payload.get(name)
    if values is None:
        if required:
            raise PayloadError(f"column {name!r} is required")
        return [None] * n
    if not isinstance(values, list):
        raise PayloadError(f"column {name!r} must be an array")
    if len(values) != n:
        raise PayloadError(f"column {name!r} has {len(values)} values, expected {n} (like 'ts')")
    return values


def parse_payload(payload, tz: ZoneInfo) -> tuple[str, TickBatch]:
    """Row form ``{"symbol", "ticks": [{ts, price, size, side, id}]}`` or column form
    ``{"symbol", "ts": [...], "price": [...], ...}`` -> (symbol, batch)."""
    if not isinstance(payload, dict):
        raise PayloadError("the body must be a JSON (or msgpack) object")
    symbol = payload.get("symbol")
    if not isinstance(symbol, str) or not symbol.strip():
        raise PayloadError("'symbol' is required")
    if "ticks" in payload:
        rows = payload["ticks"]
        if not isinstance(rows, list):
            raise PayloadError("'ticks' must be an array of objects")
        if any(not isinstance(row, dict) for row in rows):
            raise PayloadError("every element of 'ticks' must be an object")
        n = len(rows)
        columns = {
            name: [row.get(name) for row in rows] for name in ("ts", "price", "size", "side", "id")
        }
    elif "ts" in payload:
        ts = payload["ts"]
        n = len(ts) if isinstance(ts, list) else 0
        columns = {
            name: _column(payload, name, n, required=name in ("ts", "price", "size"))
            for name in ("ts", "price", "size", "side", "id")
        }
    else:
        raise PayloadError("send either 'ticks' (rows) or 'ts'/'price'/'size' (columns)")
    if n > settings.INGEST_MAX_BATCH_ROWS:
        raise TooLarge(f"{n} ticks in one request; the limit is {settings.INGEST_MAX_BATCH_ROWS}")
    return symbol.strip().upper(), _to_batch(columns, n, tz)


def _fast_numeric(values: list, dtype) -> np.ndarray | None:
    """Vectorised conversion when every value is a plain number (the common case)."""
    try:
        array = np.asarray(values, dtype=dtype)
    except (TypeError, ValueError, OverflowError):
        return None
    if array.shape != (len(values),) or any(isinstance(v, bool | str) for v in values[:1]):
        return None
    return array


_FAST_SIDES = {"buy": BUY, "sell": SELL, None: UNKNOWN}


def _fast_sides(values: list) -> np.ndarray | None:
    """The common spellings in one C-level pass; None means "take the careful path"."""
    try:
        sides = np.array([_FAST_SIDES.get(v, 99) for v in values], dtype=np.int8)
    except TypeError:  # an unhashable value (object, list)
        return None
    return None if (sides == 99).any() else sides


def _to_batch(columns: dict[str, list], n: int, tz: ZoneInfo) -> TickBatch:
    errors: list[RowError] = []
    ts_raw = columns["ts"]
    ts = _fast_numeric(ts_raw, np.int64) if n and isinstance(ts_raw[0], int) else None
    if ts is None or any(type(v) is not int for v in ts_raw):
        ts = np.fromiter(
            (_parse_ts(v, tz, i, errors) for i, v in enumerate(ts_raw)), dtype=np.int64, count=n
        )
    numbers = {}
    for field in ("price", "size"):
        raw = columns[field]
        array = _fast_numeric(raw, np.float64)
        if array is None or any(isinstance(v, bool | str) or v is None for v in raw):
            array = np.fromiter(
                (_parse_number(v, field, i, errors) for i, v in enumerate(raw)),
                dtype=np.float64,
                count=n,
            )
        numbers[field] = array
    side = _fast_sides(columns["side"])
    if side is None:
        side = np.fromiter(
            (_parse_side(v, i, errors) for i, v in enumerate(columns["side"])),
            dtype=np.int8,
            count=n,
        )
    ids = np.empty(n, dtype=object)
    raw_ids = columns["id"]
    if all(type(v) is str and 0 < len(v) <= 64 for v in raw_ids):
        ids[:] = raw_ids
    else:
        ids[:] = [_parse_id(v, i, errors) for i, v in enumerate(raw_ids)]
    batch = TickBatch(ts, numbers["price"], numbers["size"], side, ids)
    validate(batch, errors)
    return batch


def validate(batch: TickBatch, errors: list[RowError] | None = None) -> None:
    """Raise ``InvalidRows`` listing every bad row (SPEC section 3's rules for trades)."""
    errors = [] if errors is None else errors
    bad_fields = {(e.index, e.field) for e in errors}
    for field, values in (("price", batch.price), ("size", batch.size)):
        for index in np.flatnonzero(~np.isfinite(values)):
            if (int(index), field) not in bad_fields:
                errors.append(RowError(int(index), field, f"{field} must be a finite number"))
    for index in np.flatnonzero(batch.size < 0):
        errors.append(RowError(int(index), "size", "size must not be negative"))
    limit = time.time_ns() + FUTURE_LIMIT_NS
    for index in np.flatnonzero(batch.ts_ns > limit):
        errors.append(RowError(int(index), "ts", "timestamp is more than 1 day in the future"))
    for index in np.flatnonzero(batch.ts_ns < 0):
        if (int(index), "ts") not in bad_fields:
            errors.append(RowError(int(index), "ts", "timestamp is before 1970"))
    if errors:
        raise InvalidRows(errors, total=len(batch))


# --- deduplication and classification ----------------------------------------------------


def dedupe_in_batch(batch: TickBatch) -> TickBatch:
    """Keep the later row of a trade repeated inside the batch; rows without id stay.

    A trade's key is (time, id), the store's key: some feeds number the fills of one
    aggressor order with one id (CME's sequence), so the id alone is not unique.
    """
    has_id = ~np.equal(batch.trade_id, None)
    if not has_id.any():
        return batch
    if has_id.all() and len(set(batch.trade_id.tolist())) == len(batch):
        return batch  # distinct ids: nothing can repeat
    # PostgreSQL keeps microseconds, so the store's key is (microsecond, id)
    ids = np.char.add(
        np.char.add((batch.ts_ns[has_id] // 1000).astype(str), "|"),
        batch.trade_id[has_id].astype(str),
    )
    positions = np.flatnonzero(has_id)
    # np.unique on the reversed ids finds each id's last occurrence
    _, first_in_reversed = np.unique(ids[::-1], return_index=True)
    keep_with_id = positions[len(ids) - 1 - first_in_reversed]
    keep = np.sort(np.concatenate([np.flatnonzero(~has_id), keep_with_id]))
    return batch if len(keep) == len(batch) else batch.take(keep)


def _previous_trade(symbol_id: int, first_ts_ns: int) -> tuple[float | None, int]:
    with db.connection().cursor() as cursor:
        cursor.execute(
            sql.LAST_TICK_BEFORE,
            {
                "symbol_id": symbol_id,
                "ts": datetime.fromtimestamp(first_ts_ns / 1e9, tz=ZoneInfo("UTC")),
            },
        )
        row = cursor.fetchone()
    return (float(row[0]), int(row[1])) if row else (None, UNKNOWN)


def _classify(symbol, batch: TickBatch) -> tuple[TickBatch, np.ndarray]:
    """Fill missing sides by the tick rule (from the previous stored trade); returns the
    batch and which sides were inferred."""
    inferred = np.zeros(len(batch), dtype=bool)
    if len(batch) and (batch.side == UNKNOWN).any():
        prev_price, prev_side = _previous_trade(symbol.id, int(batch.ts_ns[0]))
        inferred = batch.side == UNKNOWN
        sides = classify_aggressor(
            batch.price, batch.side, prev_price=prev_price, prev_side=prev_side
        )
        batch = TickBatch(batch.ts_ns, batch.price, batch.size, sides, batch.trade_id)
    return batch, inferred


# --- the service -------------------------------------------------------------------------


def ingest_ticks(symbol, batch: TickBatch, *, publish: bool = True) -> TickIngestResult:
    """Validate, deduplicate, classify and store ``batch`` for ``symbol`` atomically, then
    publish it to live subscribers after commit."""
    validate(batch)
    received = len(batch)
    batch = dedupe_in_batch(batch)
    order = np.argsort(batch.ts_ns, kind="stable")
    batch = batch.take(order)
    if len(batch) <= writes.FEW_TICKS and not db.connection().in_atomic_block:
        # the live case: one round trip that commits by itself, then publish
        batch, inferred = _classify(symbol, batch)
        result = writes.write_few_ticks(symbol.id, batch, inferred)
        if publish and result.stored:
            broadcast.publish_trades(symbol.symbol, batch)
    else:
        with db.atomic():
            batch, inferred = _classify(symbol, batch)
            result = writes.write_ticks(symbol.id, batch, inferred)
            if publish and result.stored:
                final = batch
                db.on_commit(lambda: broadcast.publish_trades(symbol.symbol, final))
    return TickIngestResult(
        received=received,
        stored=result.stored,
        duplicates=received - result.stored,
        inferred=int(inferred.sum()),
    )
