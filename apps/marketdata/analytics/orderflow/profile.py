"""Volume profiles: rows, POC, dual-price value area, developing levels, naked POCs,
high/low-volume nodes (SPEC 4 and 7).

A profile's rows are contiguous from the lowest to the highest traded row at ``row_size``
(rows that did not trade inside the range are rows with zero volume: they take part in
the POC's "middle of the range" and in the value area's pairs).

* POC: the row with the largest volume; ties: the row nearest the middle of the range,
  then the lower one.
* Value area (dual-price, default 70%): start at the POC; compare the sum of the next two
  rows above with the next two rows below; add the larger pair (ties: the upper pair);
  repeat until the included volume >= the percentage of the total; at an edge keep adding
  from the other side. (The reference documents pick the largest rows anywhere: wrong.)
* Volumes are compared after rounding to a decimal grid (``method.volume_decimals``), so
  equal volumes summed in a different order still tie.
* High/low-volume nodes: the profile is smoothed with a centred moving average of
  ``node_smoothing`` rows (fewer at the edges); a high-volume node is an interior local
  maximum of the smoothed profile (a plateau counts once, at its lower middle row) whose
  smoothed volume is >= ``hvn_threshold`` x the smoothed maximum; a low-volume node is an
  interior local minimum <= ``lvn_threshold`` x the smoothed maximum. The first and last
  runs of the profile are never nodes (a thin tail is not a low-volume node).
"""

from __future__ import annotations

import numpy as np

from ._core import (
    as_f64,
    as_i64,
    as_trades,
    bar_start,
    change_starts,
    check_finite,
    check_lengths,
    check_percent,
    check_positive,
    check_timeframe,
    poc_index,
    row_index,
    row_price,
    session_index,
    unit_decimals,
    value_area_bounds,
    volume_units,
)
from .aggressor import TICK_RULE_METHOD, UNKNOWN, classify_aggressor, count_inferred

DEFAULT_VALUE_AREA = 70.0
DEFAULT_MAX_ROWS = 200_000
DEFAULT_NODE_SMOOTHING = 5
DEFAULT_HVN_THRESHOLD = 0.6
DEFAULT_LVN_THRESHOLD = 0.3

POC_RULE = "row with the largest volume; ties: nearest the middle of the range, then lower"
VALUE_AREA_RULE = (
    "dual-price: from the POC compare the sum of the next two rows above with the next two "
    "below, add the larger pair (ties: upper), repeat until included >= value_area% of the "
    "total; at an edge keep adding from the other side"
)


def _contiguous(rows: np.ndarray, *columns: np.ndarray, max_rows: int):
    """Sum columns per row index onto a contiguous grid from min to max row."""
    low = int(rows.min())
    span = int(rows.max()) - low + 1
    if span > max_rows:
        raise ValueError(
            f"profile would have {span} rows (limit {max_rows}): use a larger row_size"
        )
    idx = rows - low
    return low, [np.bincount(idx, weights=col, minlength=span) for col in columns]


def volume_nodes(
    volume: np.ndarray,
    *,
    smoothing: int = DEFAULT_NODE_SMOOTHING,
    hvn_threshold: float = DEFAULT_HVN_THRESHOLD,
    lvn_threshold: float = DEFAULT_LVN_THRESHOLD,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of high- and low-volume nodes of a contiguous profile, and the smoothed
    profile (see the module docstring)."""
    n = volume.shape[0]
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    width = max(1, int(smoothing))
    if width % 2 == 0:
        width += 1
    kernel = np.ones(width)
    sums = np.convolve(volume, kernel, mode="same")
    counts = np.convolve(np.ones(n), kernel, mode="same")
    smooth = sums / counts
    starts = change_starts(smooth)
    values = smooth[starts]
    lengths = np.diff(np.append(starts, n))
    middle = starts + (lengths - 1) // 2
    peak = float(smooth.max())
    if values.shape[0] < 3 or peak <= 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, smooth
    inner = values[1:-1]
    is_max = (inner > values[:-2]) & (inner > values[2:]) & (inner >= hvn_threshold * peak)
    is_min = (inner < values[:-2]) & (inner < values[2:]) & (inner <= lvn_threshold * peak)
    return middle[1:-1][is_max], middle[1:-1][is_min], smooth


def _method(row_size, value_area, decimals, extra=None, **nodes) -> dict:
    method = {
        "name": "volume_profile",
        "row_size": row_size,
        "rows": "contiguous from the lowest to the highest traded row; untraded rows are 0",
        "bucket": "floor(price / row_size) * row_size (grid-snapped, see footprint.bucket)",
        "poc": POC_RULE,
        "value_area": {"method": "dual_price", "percent": value_area, "rule": VALUE_AREA_RULE},
        "volume_decimals": max(decimals, 0),
    }
    if nodes:
        method["nodes"] = {
            "smoothing_rows": nodes["smoothing"],
            "hvn": f"interior local max of the smoothed profile >= {nodes['hvn']} x its max",
            "lvn": f"interior local min of the smoothed profile <= {nodes['lvn']} x its max",
        }
    if extra:
        method.update(extra)
    return method


def _profile(
    rows: np.ndarray,
    bid: np.ndarray,
    ask: np.ndarray,
    volume: np.ndarray,
    *,
    row_size: float,
    value_area: float,
    max_rows: int,
    node_smoothing: int,
    hvn_threshold: float,
    lvn_threshold: float,
    extra: dict | None,
) -> dict:
    total_raw = float(volume.sum())
    decimals = unit_decimals(total_raw)
    method = _method(
        row_size,
        value_area,
        decimals,
        extra,
        smoothing=node_smoothing,
        hvn=hvn_threshold,
        lvn=lvn_threshold,
    )
    empty = {
        "method": method,
        "poc": None,
        "vah": None,
        "val": None,
        "high": None,
        "low": None,
        "total_volume": 0.0,
        "bid_volume": 0.0,
        "ask_volume": 0.0,
        "delta": 0.0,
        "value_area_volume": 0.0,
        "profile": [],
        "hvn": [],
        "lvn": [],
    }
    if rows.shape[0] == 0:
        return empty
    low, (vol, bid_r, ask_r) = _contiguous(rows, volume, bid, ask, max_rows=max_rows)
    units = volume_units(vol, decimals)
    if units.sum() <= 0:
        return empty
    out_dec = max(decimals, 0)
    vol, bid_r, ask_r = np.round(vol, out_dec), np.round(bid_r, out_dec), np.round(ask_r, out_dec)
    prices = row_price(np.arange(low, low + vol.shape[0]), row_size)
    poc = poc_index(units)
    lo, hi = value_area_bounds(units, poc, value_area)
    total = round(float(vol.sum()), out_dec)
    percent = np.round(vol / total * 100.0, 6) if total > 0 else np.zeros_like(vol)
    delta = np.round(ask_r - bid_r, out_dec)
    hvn, lvn, _ = volume_nodes(
        units, smoothing=node_smoothing, hvn_threshold=hvn_threshold, lvn_threshold=lvn_threshold
    )
    price_l, vol_l = prices.tolist(), vol.tolist()
    profile = [
        {"price": p, "volume": v, "bid_volume": b, "ask_volume": a, "delta": d, "percent": pc}
        for p, v, b, a, d, pc in zip(
            price_l,
            vol_l,
            bid_r.tolist(),
            ask_r.tolist(),
            delta.tolist(),
            percent.tolist(),
            strict=True,
        )
    ]
    bid_total = round(float(bid_r.sum()), out_dec)
    ask_total = round(float(ask_r.sum()), out_dec)
    return {
        "method": method,
        "poc": price_l[poc],
        "vah": price_l[hi],
        "val": price_l[lo],
        "high": price_l[-1],
        "low": price_l[0],
        "total_volume": total,
        "bid_volume": bid_total,
        "ask_volume": ask_total,
        "delta": round(ask_total - bid_total, out_dec),
        "value_area_volume": round(float(vol[lo : hi + 1].sum()), out_dec),
        "profile": profile,
        "hvn": [{"price": price_l[i], "volume": vol_l[i]} for i in hvn.tolist()],
        "lvn": [{"price": price_l[i], "volume": vol_l[i]} for i in lvn.tolist()],
    }


def volume_profile_from_rows(
    price,
    bid_volume,
    ask_volume,
    *,
    row_size: float,
    value_area: float = DEFAULT_VALUE_AREA,
    volume=None,
    max_rows: int = DEFAULT_MAX_ROWS,
    node_smoothing: int = DEFAULT_NODE_SMOOTHING,
    hvn_threshold: float = DEFAULT_HVN_THRESHOLD,
    lvn_threshold: float = DEFAULT_LVN_THRESHOLD,
) -> dict:
    """Volume profile of stored footprint rows (any number of bars, e.g. 30 days).

    ``volume`` (optional) is each row's total volume when it holds volume of unknown side;
    by default ``bid_volume + ask_volume``. Returns::

        {"method", "poc", "vah", "val", "high", "low", "total_volume", "bid_volume",
         "ask_volume", "delta", "value_area_volume",
         "profile": [{"price", "volume", "bid_volume", "ask_volume", "delta", "percent"}]
         (ascending price, contiguous), "hvn": [{"price", "volume"}], "lvn": [...]}

    ``poc``/``vah``/``val``/``high``/``low`` are None for an empty profile.
    """
    row_size = check_positive(row_size, "row_size")
    value_area = check_percent(value_area)
    _, rows, bid, ask, vol = _prepare_rows(None, price, bid_volume, ask_volume, volume, row_size)
    if np.any(bid < 0) or np.any(ask < 0) or np.any(vol < 0):
        raise ValueError("volumes must be >= 0")
    return _profile(
        rows,
        bid,
        ask,
        vol,
        row_size=row_size,
        value_area=value_area,
        max_rows=max_rows,
        node_smoothing=node_smoothing,
        hvn_threshold=hvn_threshold,
        lvn_threshold=lvn_threshold,
        extra={"source": "footprint_rows"},
    )


def volume_profile_from_trades(
    price,
    size,
    side=None,
    *,
    row_size: float,
    value_area: float = DEFAULT_VALUE_AREA,
    prev_price: float | None = None,
    prev_side: int = UNKNOWN,
    max_rows: int = DEFAULT_MAX_ROWS,
    node_smoothing: int = DEFAULT_NODE_SMOOTHING,
    hvn_threshold: float = DEFAULT_HVN_THRESHOLD,
    lvn_threshold: float = DEFAULT_LVN_THRESHOLD,
) -> dict:
    """Volume profile of trades (in time order; unknown sides follow the tick rule).
    Same output as :func:`volume_profile_from_rows`."""
    row_size = check_positive(row_size, "row_size")
    value_area = check_percent(value_area)
    _, price, size, n = as_trades(price, size)
    sides = classify_aggressor(price, side, prev_price=prev_price, prev_side=prev_side)
    return _profile(
        row_index(price, row_size),
        np.where(sides < 0, size, 0.0),
        np.where(sides > 0, size, 0.0),
        size,
        row_size=row_size,
        value_area=value_area,
        max_rows=max_rows,
        node_smoothing=node_smoothing,
        hvn_threshold=hvn_threshold,
        lvn_threshold=lvn_threshold,
        extra={
            "source": "trades",
            "aggressor": {**TICK_RULE_METHOD, "applied_to": "trades without a feed side"},
            "inferred_sides": count_inferred(side, n),
        },
    )


def _prepare_rows(bar_ts, price, bid_volume, ask_volume, volume, row_size):
    """Validated stored rows (``bar_ts`` may be None): ``bar_ts``, row indices, bid, ask and
    total volume (``bid + ask`` unless ``volume`` is given)."""
    bar_ts = None if bar_ts is None else as_i64(bar_ts, "bar_ts")
    price = as_f64(price, "price")
    bid = as_f64(bid_volume, "bid_volume")
    ask = as_f64(ask_volume, "ask_volume")
    vol = bid + ask if volume is None else as_f64(volume, "volume")
    check_lengths(bar_ts=bar_ts, price=price, bid_volume=bid, ask_volume=ask, volume=vol)
    check_finite(price=price, bid_volume=bid, ask_volume=ask, volume=vol)
    return bar_ts, row_index(price, row_size), bid, ask, vol


def developing_profile(
    bar_ts,
    price,
    bid_volume,
    ask_volume,
    *,
    timeframe: int,
    row_size: float,
    value_area: float = DEFAULT_VALUE_AREA,
    origin: int = 0,
    session_starts=None,
    volume=None,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> dict:
    """Developing POC/VAH/VAL: after each bar of ``timeframe`` seconds, the levels of the
    profile of everything since the session start up to and including that bar.

    Sessions come from ``session_starts`` (epoch s, increasing; rows before the first are
    dropped); without them the whole input is one session. Returns ``{"method", "series":
    [{"time", "session_start", "poc", "vah", "val", "volume"}]}``, oldest first. Loops over
    bars (a session has at most a few thousand) with vectorised work per bar.
    """
    row_size = check_positive(row_size, "row_size")
    value_area = check_percent(value_area)
    timeframe = check_timeframe(timeframe)
    bar_ts, rows, _, _, vol = _prepare_rows(bar_ts, price, bid_volume, ask_volume, volume, row_size)
    bar = bar_start(bar_ts, timeframe, origin)
    if session_starts is None:
        sess = np.zeros(bar.shape[0], dtype=np.int64)
        starts_arr = None
    else:
        starts_arr = np.asarray(session_starts, dtype=np.int64)
        sess = session_index(bar_ts, starts_arr)
        keep = sess >= 0
        bar, rows, vol, sess = bar[keep], rows[keep], vol[keep], sess[keep]
    decimals = unit_decimals(float(vol.sum()))
    method = _method(row_size, value_area, decimals, {"timeframe": timeframe, "origin": origin})
    method["name"] = "developing_volume_profile"
    method["developing"] = "cumulative from the session start through each bar"
    if bar.shape[0] == 0:
        return {"method": method, "series": []}
    units = volume_units(vol, decimals)
    order = np.lexsort((bar, sess))
    bar, rows, units, sess, vol = bar[order], rows[order], units[order], sess[order], vol[order]
    series = []
    sess_starts = change_starts(sess)
    sess_ends = np.append(sess_starts[1:], bar.shape[0])
    for s0, s1 in zip(sess_starts.tolist(), sess_ends.tolist(), strict=True):
        k = rows[s0:s1]
        kmin = int(k.min())
        span = int(k.max()) - kmin + 1
        if span > max_rows:
            raise ValueError(f"profile would have {span} rows (limit {max_rows})")
        prices = row_price(np.arange(kmin, kmin + span), row_size).tolist()
        cum = np.zeros(span)
        cum_raw = 0.0
        lo_seen, hi_seen = span, -1
        b_starts = change_starts(bar[s0:s1]) + s0
        b_ends = np.append(b_starts[1:], s1)
        session_start = None if starts_arr is None else int(starts_arr[sess[s0]])
        for b0, b1 in zip(b_starts.tolist(), b_ends.tolist(), strict=True):
            idx = rows[b0:b1] - kmin
            cum += np.bincount(idx, weights=units[b0:b1], minlength=span)
            cum_raw += float(vol[b0:b1].sum())
            lo_seen = min(lo_seen, int(idx.min()))
            hi_seen = max(hi_seen, int(idx.max()))
            window = cum[lo_seen : hi_seen + 1]
            if window.sum() <= 0:
                poc_p = vah_p = val_p = None
            else:
                poc = poc_index(window)
                lo, hi = value_area_bounds(window, poc, value_area)
                poc_p = prices[lo_seen + poc]
                vah_p, val_p = prices[lo_seen + hi], prices[lo_seen + lo]
            series.append(
                {
                    "time": int(bar[b0]),
                    "session_start": session_start,
                    "poc": poc_p,
                    "vah": vah_p,
                    "val": val_p,
                    "volume": round(cum_raw, max(decimals, 0)),
                }
            )
    return {"method": method, "series": series}


def session_profiles(
    bar_ts,
    price,
    bid_volume,
    ask_volume,
    *,
    session_starts,
    row_size: float,
    value_area: float = DEFAULT_VALUE_AREA,
    volume=None,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> dict:
    """Per-session summary levels: ``{"method", "sessions": [{"session_start", "poc", "vah",
    "val", "high", "low", "total_volume"}]}`` (sessions with rows only), e.g. the input of
    :func:`naked_pocs`."""
    row_size = check_positive(row_size, "row_size")
    value_area = check_percent(value_area)
    bar_ts, rows, _, _, vol = _prepare_rows(bar_ts, price, bid_volume, ask_volume, volume, row_size)
    starts_arr = np.asarray(session_starts, dtype=np.int64)
    sess = session_index(bar_ts, starts_arr)
    keep = sess >= 0
    rows, vol, sess = rows[keep], vol[keep], sess[keep]
    decimals = unit_decimals(float(vol.sum()))
    method = _method(
        row_size,
        value_area,
        decimals,
        {"session_rule": "a row belongs to the latest session start <= its bar time"},
    )
    method["name"] = "session_volume_profiles"
    order = np.argsort(sess, kind="stable")
    rows, vol, sess = rows[order], vol[order], sess[order]
    units = volume_units(vol, decimals)
    out: list[dict] = []
    if sess.shape[0] == 0:
        return {"method": method, "sessions": out}
    s_starts = change_starts(sess)
    for s0, s1 in zip(
        s_starts.tolist(), np.append(s_starts[1:], sess.shape[0]).tolist(), strict=True
    ):
        low, (grid,) = _contiguous(rows[s0:s1], units[s0:s1], max_rows=max_rows)
        if grid.sum() <= 0:
            continue
        poc = poc_index(grid)
        lo, hi = value_area_bounds(grid, poc, value_area)
        prices = row_price(
            np.array([low + poc, low + hi, low + lo, low, low + grid.shape[0] - 1]), row_size
        )
        out.append(
            {
                "session_start": int(starts_arr[sess[s0]]),
                "poc": float(prices[0]),
                "vah": float(prices[1]),
                "val": float(prices[2]),
                "low": float(prices[3]),
                "high": float(prices[4]),
                "total_volume": round(float(vol[s0:s1].sum()), max(decimals, 0)),
            }
        )
    return {"method": method, "sessions": out}


def naked_pocs(poc_time, poc, time, high, low, *, tolerance: float = 0.0) -> dict:
    """Which POCs are still untouched ("naked") by later prices.

    ``poc_time[i]`` is when POC ``i`` becomes final (its session's end); a later bar
    (``time >= poc_time[i]``) touches it when ``low - tolerance <= poc <= high +
    tolerance``. Returns ``{"method", "pocs": [{"poc_time", "poc", "naked",
    "touched_time"}]}`` in input order (``touched_time``: the first touching bar's time,
    None while naked).
    """
    poc_time = as_i64(poc_time, "poc_time")
    poc = as_f64(poc, "poc")
    time = as_i64(time, "time")
    high = as_f64(high, "high")
    low = as_f64(low, "low")
    check_lengths(poc_time=poc_time, poc=poc)
    check_lengths(time=time, high=high, low=low)
    check_finite(poc=poc, high=high, low=low)
    order = np.argsort(time, kind="stable")
    time, high, low = time[order], high[order], low[order]
    out = []
    for start in range(0, poc.shape[0], 256):  # bounded (chunk x bars) boolean matrix
        p = poc[start : start + 256, None]
        t = poc_time[start : start + 256, None]
        touch = (
            (time[None, :] >= t)
            & (low[None, :] - tolerance <= p)
            & (p <= high[None, :] + tolerance)
        )
        hit = touch.any(axis=1)
        first = np.argmax(touch, axis=1)
        for i in range(p.shape[0]):
            out.append(
                {
                    "poc_time": int(t[i, 0]),
                    "poc": float(p[i, 0]),
                    "naked": not bool(hit[i]),
                    "touched_time": int(time[first[i]]) if hit[i] else None,
                }
            )
    method = {
        "name": "naked_poc",
        "rule": "a POC is naked until a bar starting at or after poc_time has "
        "low - tolerance <= poc <= high + tolerance",
        "tolerance": float(tolerance),
    }
    return {"method": method, "pocs": out}
