"""Numeric kernels shared by the order-flow modules (numpy only, no Django).

Everything here works on whole columns at once: grouping is done with lexsort + change
points + ``reduceat``/``bincount``, never with Python loops over rows. The public modules
(footprint, profile, tpo, cvd) turn these arrays into JSON-ready dicts.

Decisions that several modules share live here so that they agree with each other:

* Price rows: ``floor(price / row_size) * row_size`` computed on integer row indices
  (see :func:`row_index`), so float noise never splits one row into two.
* Volume comparisons (POC ties, value-area pair ties, imbalance ratios) are made on
  volumes rounded to a fixed decimal grid (:func:`volume_units`), so a footprint built
  from trades and one built from stored rows (whose float sums are added in another
  order) pick the same POC and value area.
"""

from __future__ import annotations

import math

import numpy as np

# A price this close below a row boundary (in row units) is taken to lie on it. Prices
# arrive on the tick grid, but ``price / row_size`` in binary floating point can land a few
# ulps under the integer (e.g. 0.3 / 0.1 = 2.9999999999999996); without the snap such a
# trade would fall into the row below. The tolerance is far below one tick and far above
# the division's error bound (about 3.3e-16 relative).
ROW_SNAP_ABS = 1e-9
ROW_SNAP_REL = 1e-14

MAX_DECIMALS = 9


def as_f64(values, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional")
    return arr


def as_i64(values, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional")
    if arr.dtype.kind == "f":
        if arr.size and not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} must be finite")
        arr = np.floor(arr)
    return arr.astype(np.int64, copy=False)


def as_trades(price, size, ts_ns=None) -> tuple[np.ndarray | None, np.ndarray, np.ndarray, int]:
    """Validated trade columns: ``ts_ns`` (int64, when given), ``price`` and ``size``
    (float64, finite, sizes >= 0), all of one length, and that length."""
    ts = None if ts_ns is None else as_i64(ts_ns, "ts_ns")
    price = as_f64(price, "price")
    size = as_f64(size, "size")
    n = check_lengths(ts_ns=ts, price=price, size=size)
    check_finite(price=price, size=size)
    if np.any(size < 0):
        raise ValueError("size must be >= 0")
    return ts, price, size, n


def check_lengths(**arrays: np.ndarray | None) -> int:
    sizes = {name: a.shape[0] for name, a in arrays.items() if a is not None}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"arrays differ in length: {sizes}")
    return next(iter(sizes.values()), 0)


def check_finite(**arrays: np.ndarray | None) -> None:
    for name, a in arrays.items():
        if a is not None and a.size and not np.all(np.isfinite(a)):
            raise ValueError(f"{name} contains non-finite values")


def check_positive(value: float, name: str) -> float:
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return value


def check_non_negative(value: float, name: str) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return value


def check_percent(value: float, name: str = "value_area") -> float:
    value = float(value)
    if not math.isfinite(value) or not 0 < value <= 100:
        raise ValueError(f"{name} must be in (0, 100], got {value!r}")
    return value


def check_timeframe(timeframe: int) -> int:
    if isinstance(timeframe, bool) or int(timeframe) != timeframe or int(timeframe) <= 0:
        raise ValueError(f"timeframe must be a positive whole number of seconds: {timeframe!r}")
    return int(timeframe)


# ---------------------------------------------------------------------------- price rows


def row_decimals(row_size: float) -> int:
    """Decimals needed to write ``row_size`` exactly (0.25 -> 2, 0.01 -> 2, 5 -> 0)."""
    for d in range(13):
        if abs(round(row_size, d) - row_size) <= 1e-12 * max(1.0, abs(row_size)):
            return d
    return 12


def row_index(price: np.ndarray, row_size: float) -> np.ndarray:
    """Integer row of each price: ``floor(price / row_size)`` with the grid snap above."""
    q = np.asarray(price, dtype=np.float64) / row_size
    nearest = np.round(q)
    tol = np.maximum(ROW_SNAP_ABS, ROW_SNAP_REL * np.abs(q))
    on_grid = np.abs(q - nearest) <= tol
    return np.where(on_grid, nearest, np.floor(q)).astype(np.int64)


def row_price(index: np.ndarray, row_size: float) -> np.ndarray:
    """Price of integer rows, rounded to the row size's decimals (22115 * 0.25 = 5528.75)."""
    return np.round(np.asarray(index, dtype=np.float64) * row_size, row_decimals(row_size))


def scalar_row_price(index: int, row_size: float) -> float:
    return float(row_price(np.array([index]), row_size)[0])


# ------------------------------------------------------------------------- volume units


def unit_decimals(total: float) -> int:
    """Decimals at which volumes are compared, given the largest total they add up to.

    Up to 9 decimals (crypto quantities have at most 8), fewer when the total is so large
    that ``units * 100`` would no longer be an exact integer in a float64.
    """
    total = abs(float(total))
    if total <= 0 or not math.isfinite(total):
        return MAX_DECIMALS
    return int(min(MAX_DECIMALS, max(-6, math.floor(math.log10(9e12 / total)))))


def volume_units(volume: np.ndarray, decimals: int) -> np.ndarray:
    """Volumes as whole numbers of ``10**-decimals`` (float64 holding exact integers)."""
    return np.round(np.asarray(volume, dtype=np.float64) * (10.0**decimals))


# ---------------------------------------------------------------------- POC and value area


def poc_index(units: np.ndarray) -> int:
    """Index of the largest value in a contiguous profile.

    Ties: the row nearest the middle of the range, then the lower row.
    """
    n = units.shape[0]
    candidates = np.flatnonzero(units == units.max())
    distance = np.abs(2 * candidates - (n - 1))
    return int(candidates[np.argmin(distance)])  # argmin keeps the first = lower row


def _pair_sums(side: np.ndarray) -> np.ndarray:
    if side.shape[0] % 2:
        side = np.append(side, 0.0)
    return side.reshape(-1, 2).sum(axis=1)


def value_area_bounds(units: np.ndarray, poc: int, percent: float) -> tuple[int, int]:
    """Lowest and highest row index of the value area (dual-price method, SPEC 7).

    Start at the POC; compare the sum of the next two rows above with the next two rows
    below; add the larger pair (ties: the upper pair); repeat until the included volume is
    >= ``percent`` of the total; at an edge keep adding pairs from the other side (a lone
    last row counts as a pair).

    Instead of stepping pair by pair in Python this uses the fact that the greedy
    "take the larger head" merge of two sequences puts every element in the order of its
    sequence's running minimum (a pair is taken right after the smaller pair that blocked
    its side), upper side first on equal keys. Sorting by that key reproduces the loop
    exactly, including the tie rule; the tests check it against a plain loop.
    """
    n = units.shape[0]
    total = float(units.sum())
    included = float(units[poc])
    if total <= 0 or included * 100.0 >= percent * total:
        return poc, poc
    up = _pair_sums(units[poc + 1 :])
    down = _pair_sums(units[:poc][::-1])
    leaders = np.concatenate([np.minimum.accumulate(up), np.minimum.accumulate(down)])
    side = np.concatenate([np.zeros(up.shape[0]), np.ones(down.shape[0])])
    position = np.concatenate([np.arange(up.shape[0]), np.arange(down.shape[0])])
    sums = np.concatenate([up, down])
    order = np.lexsort((position, side, -leaders))
    reached = (included + np.cumsum(sums[order])) * 100.0 >= percent * total
    stop = int(np.argmax(reached)) if reached.any() else order.shape[0] - 1
    taken = order[: stop + 1]
    taken_up = position[taken][side[taken] == 0]
    taken_down = position[taken][side[taken] == 1]
    hi = min(poc + 2 * (int(taken_up.max()) + 1), n - 1) if taken_up.size else poc
    lo = max(poc - 2 * (int(taken_down.max()) + 1), 0) if taken_down.size else poc
    return lo, hi


# ----------------------------------------------------------------------------- grouping


def change_starts(*keys: np.ndarray) -> np.ndarray:
    """Start offsets of the runs of equal key tuples in already sorted key columns."""
    n = keys[0].shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    new = np.zeros(n, dtype=bool)
    new[0] = True
    for key in keys:
        new[1:] |= key[1:] != key[:-1]
    return np.flatnonzero(new)


def group_ids(starts: np.ndarray, n: int) -> np.ndarray:
    """Group number of every element, given the start offsets of the groups."""
    marks = np.zeros(n, dtype=np.int64)
    marks[starts[1:]] = 1
    return np.cumsum(marks)


def bar_start(seconds: np.ndarray, timeframe: int, origin: int = 0) -> np.ndarray:
    """Bar start (epoch s) of each time: UTC epoch multiples shifted by ``origin``."""
    return (seconds - origin) // timeframe * timeframe + origin


def session_index(times: np.ndarray, session_starts) -> np.ndarray:
    """Index of the session (latest start <= time) of each time; -1 before the first."""
    starts = np.asarray(session_starts, dtype=np.int64)
    if starts.ndim != 1 or starts.size == 0:
        raise ValueError("session_starts must be a non-empty 1-D array of epoch seconds")
    if np.any(np.diff(starts) <= 0):
        raise ValueError("session_starts must be strictly increasing")
    return np.searchsorted(starts, times, side="right") - 1


# ------------------------------------------------------------------ running delta extremes


def trade_bar_deltas(signed: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per bar delta and the max/min running delta inside it (relative to the bar start,
    including 0), from signed trade sizes in time order grouped by ``starts``."""
    n = signed.shape[0]
    if n == 0:
        empty = np.zeros(0)
        return empty, empty, empty
    ids = group_ids(starts, n)
    csum = np.cumsum(signed)
    before = (csum - signed)[starts]
    running = csum - before[ids]
    delta = np.add.reduceat(signed, starts)
    high = np.maximum.reduceat(running, starts)
    low = np.minimum.reduceat(running, starts)
    # The cumsum difference can be off by an ulp from the direct sum: keep the candle
    # consistent (0 and the bar's own delta are always inside the running range).
    high = np.maximum(np.maximum(high, 0.0), delta)
    low = np.minimum(np.minimum(low, 0.0), delta)
    return delta, high, low


def combine_bar_deltas(
    delta: np.ndarray, delta_high: np.ndarray, delta_low: np.ndarray, starts: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Merge consecutive source bars (time order, grouped by ``starts``) into larger bars.

    A source bar's extremes are relative to its own start, so inside the merged bar they
    are shifted by the delta accumulated by the earlier source bars of the same group.
    Missing extremes (NaN) fall back to the source bar's close (max/min of 0 and delta).
    """
    n = delta.shape[0]
    if n == 0:
        empty = np.zeros(0)
        return empty, empty, empty
    dh = np.where(np.isnan(delta_high), np.maximum(delta, 0.0), delta_high)
    dl = np.where(np.isnan(delta_low), np.minimum(delta, 0.0), delta_low)
    dh = np.maximum(np.maximum(dh, 0.0), delta)
    dl = np.minimum(np.minimum(dl, 0.0), delta)
    ids = group_ids(starts, n)
    csum = np.cumsum(delta)
    before_group = (csum - delta)[starts]
    offset = csum - delta - before_group[ids]
    total = np.add.reduceat(delta, starts)
    high = np.maximum.reduceat(offset + dh, starts)
    low = np.minimum.reduceat(offset + dl, starts)
    high = np.maximum(np.maximum(high, 0.0), total)
    low = np.minimum(np.minimum(low, 0.0), total)
    return total, high, low


def to_list(values: np.ndarray) -> list:
    return values.tolist()
