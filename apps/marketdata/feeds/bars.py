"""Bar batches: the column shape every bar feed (.scid bar records, OHLCV CSV) yields.

A bar batch is a plain ``dict`` of equal-length numpy arrays with exactly the keys of
``BAR_FIELDS``::

    ts_ns       int64    bar start, epoch nanoseconds UTC
    open/high/low/close  float64
    volume      float64
    bid_volume  float64  seller-initiated volume (0 when the source does not say)
    ask_volume  float64  buyer-initiated volume (0 when the source does not say)
    trades      int64    number of trades (0 when the source does not say)

It is kept a dict (not a class) so the ingest path can hand it to the store's column-wise
COPY builder without conversion.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

_DTYPES = {
    "ts_ns": np.int64,
    "open": np.float64,
    "high": np.float64,
    "low": np.float64,
    "close": np.float64,
    "volume": np.float64,
    "bid_volume": np.float64,
    "ask_volume": np.float64,
    "trades": np.int64,
}
BAR_FIELDS = tuple(_DTYPES)

BarBatch = dict[str, np.ndarray]


def make_bar_batch(
    ts_ns,
    open,
    high,
    low,
    close,
    volume=None,
    bid_volume=None,
    ask_volume=None,
    trades=None,
) -> BarBatch:
    """Build a bar batch with the canonical dtypes; missing optional columns become zeros."""
    n = len(ts_ns)
    columns = {
        "ts_ns": ts_ns,
        "open": open,
        "high": high,
        "low": low,
        "close": close,
        "volume": volume,
        "bid_volume": bid_volume,
        "ask_volume": ask_volume,
        "trades": trades,
    }
    batch = {}
    for name in BAR_FIELDS:
        value = columns[name]
        dtype = _DTYPES[name]
        batch[name] = np.zeros(n, dtype) if value is None else np.asarray(value, dtype=dtype)
        if batch[name].shape != (n,):
            raise ValueError(f"bar column {name!r} has shape {batch[name].shape}, expected ({n},)")
    return batch


def empty_bar_batch() -> BarBatch:
    return {name: np.empty(0, _DTYPES[name]) for name in BAR_FIELDS}


def bar_batch_len(batch: Mapping[str, np.ndarray]) -> int:
    return int(batch["ts_ns"].shape[0])


def take_bars(batch: Mapping[str, np.ndarray], index) -> BarBatch:
    """Rows ``index`` (mask, slice or integer array) of every column."""
    return {name: batch[name][index] for name in BAR_FIELDS}


def merge_bars(batch: Mapping[str, np.ndarray], seconds_per_bar: int | None = None) -> BarBatch:
    """Floor ``ts_ns`` to ``seconds_per_bar`` and merge rows that land on the same bar.

    Merging is the usual OHLC roll-up (first open, max high, min low, last close, summed
    volumes and trades, "first"/"last" in input order). The result is sorted by time and has
    one row per bar, so a store that applies "later duplicate wins" loses nothing. With
    ``seconds_per_bar=None`` only rows with an identical timestamp are merged.
    """
    n = bar_batch_len(batch)
    ts = batch["ts_ns"]
    if seconds_per_bar is not None:
        if seconds_per_bar <= 0:
            raise ValueError("seconds_per_bar must be positive")
        step = np.int64(seconds_per_bar) * np.int64(1_000_000_000)
        ts = (ts // step) * step
    if n == 0:
        return take_bars(batch, slice(None))
    order = np.argsort(ts, kind="stable")
    ts_sorted = ts[order]
    starts = np.flatnonzero(np.r_[True, ts_sorted[1:] != ts_sorted[:-1]])
    ends = np.r_[starts[1:], n] - 1
    if starts.size == n and seconds_per_bar is None:
        return take_bars(batch, order)

    def col(name):
        return batch[name][order]

    return {
        "ts_ns": ts_sorted[starts],
        "open": col("open")[starts],
        "high": np.maximum.reduceat(col("high"), starts),
        "low": np.minimum.reduceat(col("low"), starts),
        "close": col("close")[ends],
        "volume": np.add.reduceat(col("volume"), starts),
        "bid_volume": np.add.reduceat(col("bid_volume"), starts),
        "ask_volume": np.add.reduceat(col("ask_volume"), starts),
        "trades": np.add.reduceat(col("trades"), starts),
    }


_DAY = 86_400


def infer_seconds_per_bar(ts_ns: np.ndarray) -> int | None:
    """Best guess of the bar length of a series of bar start times, in seconds.

    The most common gap between consecutive distinct bars wins (gaps from closed markets
    are rarer than regular steps). Daily bars stamped at local midnight show 23 h/25 h gaps
    around DST changes; those count as a day. ``None`` when there are fewer than two
    distinct bars. Pass the bar length explicitly when it is known.
    """
    seconds = np.unique(np.asarray(ts_ns, dtype=np.int64) // 1_000_000_000)
    if seconds.size < 2:
        return None
    gaps = np.diff(seconds)
    gaps = np.where((gaps >= _DAY - 3600) & (gaps <= _DAY + 3600), _DAY, gaps)
    values, counts = np.unique(gaps, return_counts=True)
    return int(values[np.argmax(counts)])
