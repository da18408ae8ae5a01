"""Cumulative delta candles (Sierra Chart "Cumulative Delta Bars", SPEC 7).

Per bar: ``delta = ask_volume - bid_volume``; ``open`` = previous bar's ``close`` (0 at a
reset); ``high = open + highest running delta inside the bar``; ``low = open + lowest
running delta inside the bar``; ``close = open + delta``. The running delta is relative to
the bar's start and includes 0, so ``low <= min(open, close)`` and
``high >= max(open, close)`` always hold. (The reference documents compute
``bid - ask``: that sign is wrong.)

Resets: ``reset="session"`` starts every session at 0 (sessions from a per-bar
``session_id`` or from ``session_starts``); ``reset="none"`` accumulates over the input.

Divergence over a lookback of ``L`` bars (the ``L`` bars before bar ``i`` that are in the
same reset segment; no flag without at least one such bar):

* bearish at ``i``: price ``high[i]`` > the highest price high of the window, while the
  CVD candle's ``high[i]`` < the highest CVD high of the window (price makes a higher high,
  CVD a lower high);
* bullish at ``i``: price ``low[i]`` < the lowest price low of the window, while the CVD
  ``low[i]`` > the lowest CVD low of the window.

It compares bar extremes with the window's extremes (no swing-pivot detection), so it flags
the bar where the divergence shows first; callers wanting pivots can post-filter.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._core import (
    as_f64,
    as_i64,
    as_trades,
    bar_start,
    change_starts,
    check_finite,
    check_lengths,
    check_timeframe,
    combine_bar_deltas,
    session_index,
    trade_bar_deltas,
)
from .aggressor import TICK_RULE_METHOD, UNKNOWN, time_ordered_sides

RESETS = ("session", "none")
DEFAULT_LOOKBACK = 20

CVD_RULE = (
    "Sierra Cumulative Delta Bars: delta = ask - bid; open = previous close (0 at reset); "
    "high/low = open + highest/lowest running delta inside the bar (including 0); "
    "close = open + delta"
)


def trade_bars(
    ts_ns,
    price,
    size,
    side=None,
    *,
    timeframe: int,
    origin: int = 0,
    prev_price: float | None = None,
    prev_side: int = UNKNOWN,
) -> dict[str, np.ndarray | int]:
    """OHLCV + delta bars from trades (vectorised). Arrays keyed by name, plus
    ``inferred`` = number of sides classified by the tick rule."""
    ts_ns, price, size, n = as_trades(price, size, ts_ns)
    timeframe = check_timeframe(timeframe)
    ts_ns, price, size, sides, inferred = time_ordered_sides(
        ts_ns, price, size, side, prev_price=prev_price, prev_side=prev_side
    )
    bar = bar_start(ts_ns // 1_000_000_000, timeframe, origin)
    starts = change_starts(bar)
    delta, delta_high, delta_low = trade_bar_deltas(size * sides, starts)
    if n:
        ends = np.append(starts[1:], n) - 1
        high = np.maximum.reduceat(price, starts)
        low = np.minimum.reduceat(price, starts)
        volume = np.add.reduceat(size, starts)
        ask = np.add.reduceat(np.where(sides > 0, size, 0.0), starts)
        bid = np.add.reduceat(np.where(sides < 0, size, 0.0), starts)
        open_, close = price[starts], price[ends]
    else:
        high = low = volume = ask = bid = open_ = close = np.zeros(0)
    return {
        "time": bar[starts],
        "open": open_,
        "high": high,
        "low": low,
        "close": close,
        "volume": volume,
        "bid_volume": bid,
        "ask_volume": ask,
        "delta": delta,
        "delta_high": delta_high,
        "delta_low": delta_low,
        "inferred": inferred,
    }


def _segments(n: int, session: np.ndarray | None) -> np.ndarray:
    if session is None or n == 0:
        return np.zeros(min(n, 1), dtype=np.int64)
    return change_starts(session)


def _previous_window(values: np.ndarray, seg_start: np.ndarray, lookback: int, fill: float):
    """For each i: values[i-L .. i-1] restricted to i's segment, others set to ``fill``."""
    n = values.shape[0]
    padded = np.concatenate([np.full(lookback, fill), values])
    windows = sliding_window_view(padded, lookback)[:n].copy()
    source = np.arange(n)[:, None] - lookback + np.arange(lookback)[None, :]
    windows[source < seg_start[:, None]] = fill
    return windows


def divergences(
    price_high: np.ndarray,
    price_low: np.ndarray,
    cvd_high: np.ndarray,
    cvd_low: np.ndarray,
    seg_start: np.ndarray,
    lookback: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Bearish and bullish divergence flags per bar (see the module docstring)."""
    ph = _previous_window(price_high, seg_start, lookback, -np.inf).max(axis=1)
    ch = _previous_window(cvd_high, seg_start, lookback, -np.inf).max(axis=1)
    pl = _previous_window(price_low, seg_start, lookback, np.inf).min(axis=1)
    cl = _previous_window(cvd_low, seg_start, lookback, np.inf).min(axis=1)
    has_prev = np.isfinite(ph)
    bearish = has_prev & (price_high > ph) & (cvd_high < ch)
    bullish = has_prev & (price_low < pl) & (cvd_low > cl)
    return bearish, bullish


def cvd_candles(
    time,
    delta,
    delta_high=None,
    delta_low=None,
    *,
    session_id=None,
    session_starts=None,
    reset: str = "none",
    timeframe: int | None = None,
    origin: int = 0,
    high=None,
    low=None,
    lookback: int = DEFAULT_LOOKBACK,
    method_extra: dict | None = None,
) -> dict:
    """Cumulative delta candles from bars (oldest first after sorting by time).

    ``delta_high``/``delta_low``: the bar's highest/lowest running delta relative to its
    start (None or NaN: taken from the bar's close, i.e. max/min of 0 and delta).
    ``timeframe`` (seconds) merges the input bars into larger bars first (their extremes
    shifted by the delta accumulated before them in the larger bar). ``high``/``low``
    (price) enable the divergence flags. Returns ``{"method", "bars": [{"time", "delta",
    "open", "high", "low", "close", "bearish_divergence", "bullish_divergence"}]}``.
    """
    if reset not in RESETS:
        raise ValueError(f"reset must be one of {RESETS}, got {reset!r}")
    if int(lookback) != lookback or lookback < 1:
        raise ValueError("lookback must be a positive integer")
    time = as_i64(time, "time")
    delta = as_f64(delta, "delta")
    n = check_lengths(time=time, delta=delta)
    dh = np.full(n, np.nan) if delta_high is None else as_f64(delta_high, "delta_high")
    dl = np.full(n, np.nan) if delta_low is None else as_f64(delta_low, "delta_low")
    ph = None if high is None else as_f64(high, "high")
    pl = None if low is None else as_f64(low, "low")
    if (ph is None) != (pl is None):
        raise ValueError("pass both high and low (price) or neither")
    sess = None if session_id is None else np.asarray(session_id)
    check_lengths(time=time, delta_high=dh, delta_low=dl, high=ph, low=pl, session_id=sess)
    check_finite(delta=delta, high=ph, low=pl)
    if reset == "session" and sess is None:
        if session_starts is None:
            raise ValueError("reset='session' needs session_id or session_starts")
        sess = session_index(time, session_starts)

    if n and np.any(np.diff(time) < 0):
        order = np.argsort(time, kind="stable")
        time, delta, dh, dl = time[order], delta[order], dh[order], dl[order]
        ph = None if ph is None else ph[order]
        pl = None if pl is None else pl[order]
        sess = None if sess is None else sess[order]

    if timeframe is not None:
        timeframe = check_timeframe(timeframe)
        target = bar_start(time, timeframe, origin)
        starts = change_starts(target)
        delta, dh, dl = combine_bar_deltas(delta, dh, dl, starts)
        if ph is not None and n:
            ph = np.maximum.reduceat(ph, starts)
            pl = np.minimum.reduceat(pl, starts)
        sess = None if sess is None else sess[starts]
        time = target[starts]
        n = time.shape[0]
    else:
        dh = np.where(np.isnan(dh), np.maximum(delta, 0.0), dh)
        dl = np.where(np.isnan(dl), np.minimum(delta, 0.0), dl)

    seg_starts = _segments(n, sess if reset == "session" else None)
    close = np.empty(n)
    open_ = np.empty(n)
    ends = np.append(seg_starts[1:], n) if seg_starts.size else seg_starts
    # One sequential cumsum per segment (few: one per session), so that
    # close[i] == close[i-1] + delta[i] holds exactly in float64 and open == prev close.
    for s, e in zip(seg_starts.tolist(), ends.tolist(), strict=True):
        close[s:e] = np.cumsum(delta[s:e])
        open_[s] = 0.0
        open_[s + 1 : e] = close[s : e - 1]
    high_c = np.maximum(np.maximum(open_ + dh, open_), close)
    low_c = np.minimum(np.minimum(open_ + dl, open_), close)

    seg_id = np.zeros(n, dtype=np.int64)
    if n:
        seg_id[seg_starts[1:]] = 1
        seg_id = np.cumsum(seg_id)
    seg_first = seg_starts[seg_id] if n else np.zeros(0, dtype=np.int64)
    if ph is not None:
        bearish, bullish = divergences(ph, pl, high_c, low_c, seg_first, int(lookback))
    else:
        bearish = bullish = np.zeros(n, dtype=bool)

    method = {
        "name": "cumulative_delta_bars",
        "rule": CVD_RULE,
        "reset": reset,
        "timeframe": timeframe,
        "divergence": (
            None
            if ph is None
            else {
                "lookback": int(lookback),
                "bearish": "high > highest high of the previous lookback bars while CVD high "
                "< highest CVD high of those bars",
                "bullish": "low < lowest low of the previous lookback bars while CVD low "
                "> lowest CVD low of those bars",
                "window": "previous bars in the same reset segment only",
            }
        ),
    }
    if method_extra:
        method.update(method_extra)
    cols = zip(
        time.tolist(),
        delta.tolist(),
        open_.tolist(),
        high_c.tolist(),
        low_c.tolist(),
        close.tolist(),
        bearish.tolist(),
        bullish.tolist(),
        strict=True,
    )
    bars = [
        {
            "time": t,
            "delta": d,
            "open": o,
            "high": h,
            "low": lo,
            "close": c,
            "bearish_divergence": be,
            "bullish_divergence": bu,
        }
        for t, d, o, h, lo, c, be, bu in cols
    ]
    return {"method": method, "bars": bars}


def cvd_from_trades(
    ts_ns,
    price,
    size,
    side=None,
    *,
    timeframe: int,
    origin: int = 0,
    session_starts=None,
    reset: str = "none",
    lookback: int = DEFAULT_LOOKBACK,
    prev_price: float | None = None,
    prev_side: int = UNKNOWN,
) -> dict:
    """Cumulative delta candles of ``timeframe`` seconds computed from trades (running
    delta extremes exact). Unknown sides follow the tick rule. Same output as
    :func:`cvd_candles`, with price divergence flags."""
    bars = trade_bars(
        ts_ns,
        price,
        size,
        side,
        timeframe=timeframe,
        origin=origin,
        prev_price=prev_price,
        prev_side=prev_side,
    )
    return cvd_candles(
        bars["time"],
        bars["delta"],
        bars["delta_high"],
        bars["delta_low"],
        session_starts=session_starts,
        reset=reset,
        high=bars["high"],
        low=bars["low"],
        lookback=lookback,
        method_extra={
            "source": "trades",
            "aggressor": {**TICK_RULE_METHOD, "applied_to": "trades without a feed side"},
            "inferred_sides": bars["inferred"],
            "timeframe": check_timeframe(timeframe),
        },
    )
