"""Vectorised aggregation of a trade batch into 1-second bars and footprint rows.

The tick path's fast case (every trade in the batch is new) builds its rollups here in
numpy instead of re-reading the trades back from PostgreSQL; the SQL rebuild in
``sql.ROLLUP_TICKS_TO_1S`` stays the reference and handles the rest (seconds that already
had trades, partial replays). Both order trades by (microsecond, id length, id, price,
size) so they agree on open and close.
"""

from __future__ import annotations

import numpy as np

from apps.marketdata.ticks import TickBatch

US = 1_000_000


def canonical_order(batch: TickBatch) -> np.ndarray:
    ids = np.array(["" if v is None else str(v) for v in batch.trade_id])
    # trades without an id sort after those with one at the same time, as NULLs do in SQL
    missing = np.fromiter((v is None for v in batch.trade_id), dtype=bool, count=len(batch))
    lengths = np.where(missing, np.iinfo(np.int64).max, np.char.str_len(ids))
    return np.lexsort((batch.size, batch.price, ids, lengths, batch.ts_ns // 1000))


def _starts(keys: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))


def second_bars(batch: TickBatch) -> dict[str, np.ndarray]:
    """1-second bars of a batch (``ts_ns`` of each second, OHLCV, bid/ask, trades,
    running-delta extremes)."""
    order = canonical_order(batch)
    ts_us = batch.ts_ns[order] // 1000
    price, size, side = batch.price[order], batch.size[order], batch.side[order]
    second = ts_us // US
    starts = _starts(second)
    ends = np.append(starts[1:], len(second)) - 1
    signed = size * side
    running = np.cumsum(signed)
    base = np.repeat(running[starts] - signed[starts], np.diff(np.append(starts, len(second))))
    inside = running - base
    return {
        "ts_ns": second[starts] * 1_000_000_000,
        "open": price[starts],
        "high": np.maximum.reduceat(price, starts),
        "low": np.minimum.reduceat(price, starts),
        "close": price[ends],
        "volume": np.add.reduceat(size, starts),
        "bid_volume": np.add.reduceat(np.where(side < 0, size, 0.0), starts),
        "ask_volume": np.add.reduceat(np.where(side > 0, size, 0.0), starts),
        "trades": np.diff(np.append(starts, len(second))),
        "delta_high": np.maximum(np.maximum.reduceat(inside, starts), 0.0),
        "delta_low": np.minimum(np.minimum.reduceat(inside, starts), 0.0),
    }


def footprint_rows(batch: TickBatch) -> dict[str, np.ndarray]:
    """Volume at price per minute, split by aggressor, with trade counts."""
    minute = (batch.ts_ns // 1000) // (60 * US) * 60
    order = np.lexsort((batch.price, minute))
    minute, price = minute[order], batch.price[order]
    size, side = batch.size[order], batch.side[order]
    keys_change = np.concatenate(([True], (minute[1:] != minute[:-1]) | (price[1:] != price[:-1])))
    starts = np.flatnonzero(keys_change)
    return {
        "ts_ns": minute[starts] * 1_000_000_000,
        "price": price[starts],
        "bid_volume": np.add.reduceat(np.where(side < 0, size, 0.0), starts),
        "ask_volume": np.add.reduceat(np.where(side > 0, size, 0.0), starts),
        "trades": np.diff(np.append(starts, len(minute))),
    }
