"""TPO / Market Profile per session (SPEC 7).

* Periods of ``period_minutes`` (default 30) from the session start, lettered ``A-Z`` then
  ``a-z``; a session with more than 52 periods starts again at ``A`` (the numeric
  ``period`` index in the output stays unambiguous).
* A period prints its letter at every row (``floor(price / row_size) * row_size``) from
  the row of its low to the row of its high: its range touched them all. From bars, a bar
  belongs to the period its start time falls in (pass bars no longer than the period);
  from trades, each trade to the period of its timestamp.
* Rows are contiguous from the session's lowest to its highest row (rows no period
  touched have no letters).
* TPO POC: the row with the most letters; ties: nearest the middle of the range, then the
  lower row. TPO value area: the dual-price rule of the volume profile applied to letter
  counts (default 70%).
* Initial balance (IB): high/low of the first two periods (A and B), from prices, not
  rows. ``complete`` is False while B has not traded. Extensions: the day's range as a
  multiple of the IB range measured from the IB's opposite end, i.e.
  ``up_1_5x = ib_low + 1.5 * range`` (= ib_high + 0.5 x range),
  ``up_2x = ib_low + 2 * range`` (= ib_high + range), ``down_1_5x = ib_high - 1.5 * range``,
  ``down_2x = ib_high - 2 * range``.
* Range extension: a period after the IB (C onwards) trading above the IB high (up) or
  below the IB low (down); the first such period's letter is reported.
* Single prints: rows inside the range (low to high row, extremes included) with exactly
  one letter; contiguous runs are reported too, a run touching the top (bottom) row being
  the selling (buying) tail / excess.
* Poor high (low): the top (bottom) row has 2+ letters, hence no single-print excess there.

``merge=True`` adds the sessions' letter rows into one profile (letters of each session
concatenated in session order; POC/VA on the summed counts); IB, range extension and
periods are per-session notions and are None in a merged profile.
"""

from __future__ import annotations

import string

import numpy as np

from ._core import (
    as_f64,
    as_i64,
    change_starts,
    check_finite,
    check_lengths,
    check_percent,
    check_positive,
    poc_index,
    row_index,
    row_price,
    session_index,
    value_area_bounds,
)

LETTERS = string.ascii_uppercase + string.ascii_lowercase
DEFAULT_PERIOD_MINUTES = 30
DEFAULT_VALUE_AREA = 70.0
DEFAULT_MAX_ROWS = 100_000


def period_letter(index: int) -> str:
    return LETTERS[index % len(LETTERS)]


def _method(period_minutes, row_size, value_area, merge, source) -> dict:
    return {
        "name": "market_profile_tpo",
        "source": source,
        "period_minutes": period_minutes,
        "row_size": row_size,
        "letters": "A-Z then a-z from the session start (wrapping after 52 periods)",
        "print": "a period prints its letter at every row from its low row to its high row",
        "poc": "most letters; ties: nearest the middle of the range, then lower",
        "value_area": {
            "method": "dual_price",
            "percent": value_area,
            "on": "letter counts",
        },
        "initial_balance": "high/low of periods A and B; extensions = ib_low + k * range "
        "(up) and ib_high - k * range (down), k = 1.5 and 2",
        "single_prints": "rows inside the range (extremes included) with exactly one letter",
        "poor_extreme": "the extreme row has 2+ letters (no single-print excess)",
        "range_extension": "a period after B trades above the IB high (up) / below the IB low",
        "merged": merge,
    }


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > 1)
    starts = np.append(idx[0], idx[breaks + 1])
    ends = np.append(idx[breaks], idx[-1])
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def _levels(counts: np.ndarray, letters: list[str], low_row: int, row_size, value_area) -> dict:
    """POC, value area, single prints and poor extremes of one contiguous letter grid."""
    n = counts.shape[0]
    prices = row_price(np.arange(low_row, low_row + n), row_size).tolist()
    units = counts.astype(np.float64)
    poc = poc_index(units)
    lo, hi = value_area_bounds(units, poc, value_area)
    single = counts == 1
    runs = []
    for s, e in _runs(single):
        kind = "internal"
        if e == n - 1 and s == 0:
            kind = "whole_range"
        elif e == n - 1:
            kind = "excess_high"
        elif s == 0:
            kind = "excess_low"
        runs.append(
            {"price_low": prices[s], "price_high": prices[e], "rows": e - s + 1, "kind": kind}
        )
    return {
        "rows": [
            {"price": p, "letters": letter, "count": int(c)}
            for p, letter, c in zip(prices, letters, counts.tolist(), strict=True)
        ],
        "poc": prices[poc],
        "vah": prices[hi],
        "val": prices[lo],
        "high": prices[-1],
        "low": prices[0],
        "tpo_count": int(counts.sum()),
        "value_area_count": int(counts[lo : hi + 1].sum()),
        "single_prints": [prices[i] for i in np.flatnonzero(single).tolist()],
        "single_print_runs": runs,
        "poor_high": bool(counts[-1] >= 2),
        "poor_low": bool(counts[0] >= 2),
    }


def _session_grid(period: np.ndarray, p_high: np.ndarray, p_low: np.ndarray, row_size, max_rows):
    """Letter counts and letter strings per row for one session's periods."""
    lo_rows = row_index(p_low, row_size)
    hi_rows = row_index(p_high, row_size)
    low_row = int(lo_rows.min())
    n = int(hi_rows.max()) - low_row + 1
    if n > max_rows:
        raise ValueError(f"TPO profile would have {n} rows (limit {max_rows}): raise row_size")
    grid = np.arange(n)[None, :]
    touched = (grid >= (lo_rows - low_row)[:, None]) & (grid <= (hi_rows - low_row)[:, None])
    counts = touched.sum(axis=0)
    period_letters = np.array([period_letter(int(p)) for p in period.tolist()])
    letters = ["".join(period_letters[touched[:, r]].tolist()) for r in range(n)]
    return low_row, counts, letters


def _session_profile(
    start: int,
    period: np.ndarray,
    p_high: np.ndarray,
    p_low: np.ndarray,
    *,
    period_minutes: int,
    row_size: float,
    value_area: float,
    max_rows: int,
) -> tuple[dict, int, np.ndarray, list[str]]:
    low_row, counts, letters = _session_grid(period, p_high, p_low, row_size, max_rows)
    out = {"session_start": start}
    out.update(_levels(counts, letters, low_row, row_size, value_area))
    ib_mask = period < 2
    ib = None
    extension = {"up": False, "down": False, "up_letter": None, "down_letter": None}
    if ib_mask.any():
        ib_high = float(p_high[ib_mask].max())
        ib_low = float(p_low[ib_mask].min())
        rng = ib_high - ib_low
        ib = {
            "high": ib_high,
            "low": ib_low,
            "range": rng,
            "complete": bool(np.any(period == 1)),
            "extensions": {
                "up_1_5x": ib_low + 1.5 * rng,
                "up_2x": ib_low + 2.0 * rng,
                "down_1_5x": ib_high - 1.5 * rng,
                "down_2x": ib_high - 2.0 * rng,
            },
        }
        after = period >= 2
        up = np.flatnonzero(after & (p_high > ib_high))
        down = np.flatnonzero(after & (p_low < ib_low))
        extension = {
            "up": bool(up.size),
            "down": bool(down.size),
            "up_letter": period_letter(int(period[up[0]])) if up.size else None,
            "down_letter": period_letter(int(period[down[0]])) if down.size else None,
        }
    out["initial_balance"] = ib
    out["range_extension"] = extension
    out["periods"] = [
        {
            "period": int(p),
            "letter": period_letter(int(p)),
            "start": start + int(p) * period_minutes * 60,
            "high": float(h),
            "low": float(lo),
        }
        for p, h, lo in zip(period.tolist(), p_high.tolist(), p_low.tolist(), strict=True)
    ]
    return out, low_row, counts, letters


def _market_profile(
    session: np.ndarray,
    period: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    starts: np.ndarray,
    *,
    period_minutes: int,
    row_size: float,
    value_area: float,
    merge: bool,
    max_rows: int,
    source: str,
) -> dict:
    method = _method(period_minutes, row_size, value_area, merge, source)
    if session.shape[0] == 0:
        return {"method": method, "sessions": []}
    order = np.lexsort((period, session))
    session, period, high, low = session[order], period[order], high[order], low[order]
    groups = change_starts(session, period)
    g_session = session[groups]
    g_period = period[groups]
    g_high = np.maximum.reduceat(high, groups)
    g_low = np.minimum.reduceat(low, groups)
    s_starts = change_starts(g_session)
    s_ends = np.append(s_starts[1:], g_session.shape[0])
    sessions = []
    grids = []
    for a, b in zip(s_starts.tolist(), s_ends.tolist(), strict=True):
        prof, low_row, counts, letters = _session_profile(
            int(starts[g_session[a]]),
            g_period[a:b],
            g_high[a:b],
            g_low[a:b],
            period_minutes=period_minutes,
            row_size=row_size,
            value_area=value_area,
            max_rows=max_rows,
        )
        sessions.append(prof)
        grids.append((low_row, counts, letters))
    if not merge:
        return {"method": method, "sessions": sessions}
    low_row = min(g[0] for g in grids)
    top = max(g[0] + g[1].shape[0] for g in grids)
    if top - low_row > max_rows:
        raise ValueError(f"merged TPO profile would have {top - low_row} rows (limit {max_rows})")
    counts = np.zeros(top - low_row, dtype=np.int64)
    letters = [""] * (top - low_row)
    for g_low_row, g_counts, g_letters in grids:
        off = g_low_row - low_row
        counts[off : off + g_counts.shape[0]] += g_counts
        for i, text in enumerate(g_letters):
            letters[off + i] += text
    merged = {"session_start": sessions[0]["session_start"], "sessions": len(sessions)}
    merged.update(_levels(counts, letters, low_row, row_size, value_area))
    merged.update({"initial_balance": None, "range_extension": None, "periods": None})
    return {"method": method, "sessions": [merged]}


def _check_common(session_starts, period_minutes, row_size, value_area):
    if int(period_minutes) != period_minutes or period_minutes <= 0:
        raise ValueError("period_minutes must be a positive integer")
    row_size = check_positive(row_size, "row_size")
    value_area = check_percent(value_area)
    starts = np.atleast_1d(np.asarray(session_starts, dtype=np.int64))
    return int(period_minutes), row_size, value_area, starts


def market_profile_from_bars(
    time,
    high,
    low,
    *,
    session_starts,
    row_size: float,
    period_minutes: int = DEFAULT_PERIOD_MINUTES,
    value_area: float = DEFAULT_VALUE_AREA,
    session_ends=None,
    merge: bool = False,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> dict:
    """TPO profiles from bars (``time`` = bar start, epoch s; bars no longer than a period).

    ``session_starts``: epoch seconds, increasing (one int for a single session). A bar
    belongs to the latest session started at or before it; bars before the first start,
    or at/after their session's ``session_ends`` entry when given, are ignored.

    Returns ``{"method", "sessions": [{"session_start", "rows": [{"price", "letters",
    "count"}] (ascending, contiguous), "poc", "vah", "val", "high", "low", "tpo_count",
    "value_area_count", "single_prints": [price], "single_print_runs": [{"price_low",
    "price_high", "rows", "kind"}], "poor_high", "poor_low", "initial_balance": {"high",
    "low", "range", "complete", "extensions": {"up_1_5x", "up_2x", "down_1_5x",
    "down_2x"}}, "range_extension": {"up", "down", "up_letter", "down_letter"}, "periods":
    [{"period", "letter", "start", "high", "low"}]}]}`` (one merged entry with
    ``merge=True``).
    """
    period_minutes, row_size, value_area, starts = _check_common(
        session_starts, period_minutes, row_size, value_area
    )
    time = as_i64(time, "time")
    high = as_f64(high, "high")
    low = as_f64(low, "low")
    check_lengths(time=time, high=high, low=low)
    check_finite(high=high, low=low)
    if np.any(high < low):
        raise ValueError("high < low")
    sess = session_index(time, starts)
    keep = sess >= 0
    if session_ends is not None:
        ends = np.atleast_1d(np.asarray(session_ends, dtype=np.int64))
        check_lengths(session_starts=starts, session_ends=ends)
        keep &= time < ends[np.maximum(sess, 0)]
    sess, time, high, low = sess[keep], time[keep], high[keep], low[keep]
    period = (time - starts[sess]) // (period_minutes * 60)
    return _market_profile(
        sess,
        period,
        high,
        low,
        starts,
        period_minutes=period_minutes,
        row_size=row_size,
        value_area=value_area,
        merge=merge,
        max_rows=max_rows,
        source="bars",
    )


def market_profile_from_trades(
    ts_ns,
    price,
    *,
    session_starts,
    row_size: float,
    period_minutes: int = DEFAULT_PERIOD_MINUTES,
    value_area: float = DEFAULT_VALUE_AREA,
    session_ends=None,
    merge: bool = False,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> dict:
    """TPO profiles from trades (``ts_ns`` epoch ns). Same output as
    :func:`market_profile_from_bars`; a period's range is its trades' min..max price."""
    period_minutes, row_size, value_area, starts = _check_common(
        session_starts, period_minutes, row_size, value_area
    )
    ts_ns = as_i64(ts_ns, "ts_ns")
    price = as_f64(price, "price")
    check_lengths(ts_ns=ts_ns, price=price)
    check_finite(price=price)
    seconds = ts_ns // 1_000_000_000
    sess = session_index(seconds, starts)
    keep = sess >= 0
    if session_ends is not None:
        ends = np.atleast_1d(np.asarray(session_ends, dtype=np.int64))
        check_lengths(session_starts=starts, session_ends=ends)
        keep &= seconds < ends[np.maximum(sess, 0)]
    sess, ts_ns, price = sess[keep], ts_ns[keep], price[keep]
    period = (ts_ns - starts[sess] * 1_000_000_000) // (period_minutes * 60 * 1_000_000_000)
    return _market_profile(
        sess,
        period,
        price,
        price,
        starts,
        period_minutes=period_minutes,
        row_size=row_size,
        value_area=value_area,
        merge=merge,
        max_rows=max_rows,
        source="trades",
    )
