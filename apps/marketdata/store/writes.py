"""Writes to the market-data store. Callers own the transaction (``db.atomic()``).

Ticks: binary COPY into a per-connection staging table, one INSERT .. ON CONFLICT DO
NOTHING into ``md_ticks`` (idempotency), then the touched 1-second bars, the 1-minute and
1-hour rollups and the 1-minute footprint rows are rebuilt from stored data, so the result
never depends on arrival order or on how often a batch was re-sent.

Bars (Sierra Chart, imports): COPY into staging, upsert at their own resolution (last
write wins), then roll up to every standard resolution they divide.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from apps.marketdata.store import copybuf, sql
from apps.marketdata.store.db import connection, raw_connection
from apps.marketdata.ticks import TickBatch

# Rollup levels the store maintains above any written resolution.
ROLLUPS = (60, 3600)


@dataclass(frozen=True)
class WriteResult:
    received: int
    stored: int


def _prepare(cursor) -> None:
    for statement in (sql.CREATE_STAGE_TICKS, sql.CREATE_STAGE_BARS, sql.CREATE_TOUCHED):
        cursor.execute(statement)
    cursor.execute(sql.CLEAR_STAGING)


def _copy(cursor, statement: str, payload: bytes) -> None:
    with cursor.copy(statement) as copy:
        copy.write(payload)


def _rollup_from(cursor, symbol_id: int, res: int) -> None:
    """Roll the touched buckets at ``res`` up through every standard level above it."""
    src = res
    for dst in ROLLUPS:
        if dst <= src or dst % src:
            continue
        cursor.execute(sql.ROLLUP_BARS, {"symbol_id": symbol_id, "src": src, "dst": dst})
        cursor.execute(sql.REGISTER_SERIES, {"symbol_id": symbol_id, "res": dst})
        cursor.execute(sql.RETOUCH, {"res": dst})
        src = dst


def write_ticks(symbol_id: int, batch: TickBatch, inferred: np.ndarray) -> WriteResult:
    """Store trades (already validated, deduplicated and classified) and their rollups."""
    n = len(batch)
    if n == 0:
        return WriteResult(0, 0)
    payload = copybuf.build(
        [
            ("symbol_id", np.full(n, symbol_id, dtype=np.int32)),
            ("ts", copybuf.ns_to_pg_us(batch.ts_ns)),
            ("price", batch.price),
            ("size", batch.size),
            ("side", batch.side.astype(np.int16)),
            ("inferred", inferred.astype(np.bool_)),
        ],
        text=batch.trade_id,
    )
    raw_connection()  # make sure Django opened the connection
    with connection().cursor() as cursor:
        _prepare(cursor)
        _copy(cursor, sql.COPY_STAGE_TICKS, payload)
        cursor.execute(sql.INSERT_TICKS)
        stored, touched = cursor.fetchone()
        if touched:
            params = {"symbol_id": symbol_id}
            cursor.execute(sql.ROLLUP_TICKS_TO_1S, params)
            cursor.execute(sql.ROLLUP_TICKS_TO_FOOTPRINT, params)
            cursor.execute(sql.REGISTER_SERIES, {"symbol_id": symbol_id, "res": 1})
            _rollup_from(cursor, symbol_id, 1)
    return WriteResult(n, int(stored))


BAR_FIELDS = ("open", "high", "low", "close", "volume", "bid_volume", "ask_volume")


def write_bars(symbol_id: int, res: int, bars: dict[str, np.ndarray]) -> WriteResult:
    """Upsert bars of ``res`` seconds (``bars``: ts_ns, OHLCV, bid/ask volume, trades,
    optional open_interest with NaN for none) and their rollups."""
    n = len(bars["ts_ns"])
    if n == 0:
        return WriteResult(0, 0)
    delta = bars["ask_volume"] - bars["bid_volume"]
    oi = bars.get("open_interest")
    oi = np.full(n, np.nan) if oi is None else np.asarray(oi, dtype=np.float64)
    fields = [
        ("symbol_id", np.full(n, symbol_id, dtype=np.int32)),
        ("res", np.full(n, res, dtype=np.int32)),
        ("ts", copybuf.ns_to_pg_us(bars["ts_ns"])),
        *[(name, np.asarray(bars[name], dtype=np.float64)) for name in BAR_FIELDS],
        ("trades", np.asarray(bars["trades"], dtype=np.int32)),
        ("delta_high", np.maximum(delta, 0.0)),
        ("delta_low", np.minimum(delta, 0.0)),
        ("open_interest", oi),  # NaN -> NULL in UPSERT_STAGED_BARS
    ]
    payload = copybuf.build(fields)
    raw_connection()
    with connection().cursor() as cursor:
        _prepare(cursor)
        _copy(cursor, sql.COPY_STAGE_BARS, payload)
        cursor.execute(sql.UPSERT_STAGED_BARS)
        cursor.execute(sql.REGISTER_SERIES, {"symbol_id": symbol_id, "res": res})
        _rollup_from(cursor, symbol_id, res)
    return WriteResult(n, n)


def delete_ticks_before(cutoff, batch: int = 50_000) -> int:
    """Delete ticks older than ``cutoff`` in bounded batches (retention); bars stay."""
    total = 0
    with connection().cursor() as cursor:
        while True:
            cursor.execute(sql.DELETE_OLD_TICKS, {"cutoff": cutoff, "batch": batch})
            total += cursor.rowcount
            if cursor.rowcount < batch:
                return total
