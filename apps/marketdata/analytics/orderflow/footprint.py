"""Footprint bars: bid/ask volume per price row per bar, POC, delta, imbalances (SPEC 7).

Two entry points build the same result:

* :func:`footprint_from_trades` from raw trades (running delta extremes are exact);
* :func:`footprint_from_rows` from the store's 1-minute footprint rows, which is how the
  API serves long ranges (a 2M-tick day is a few hundred thousand rows). Running delta
  extremes then come from the source bars' own ``delta_high``/``delta_low`` when the caller
  passes them, else from the source bars' closes (a lower bound of the true range).

Conventions (DESIGN): ``ask_volume`` = buyer-initiated volume, ``bid_volume`` =
seller-initiated, ``delta = ask_volume - bid_volume``. Bars start at UTC epoch multiples
of ``timeframe`` seconds shifted by ``origin`` (SPEC 2). Rows are
``floor(price / row_size) * row_size`` (:func:`bucket`). All grouping is vectorised; the
only Python loops build the output dicts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._core import (
    as_f64,
    as_i64,
    as_trades,
    bar_start,
    change_starts,
    check_finite,
    check_lengths,
    check_non_negative,
    check_positive,
    check_timeframe,
    combine_bar_deltas,
    group_ids,
    row_index,
    row_price,
    trade_bar_deltas,
    unit_decimals,
    volume_units,
)
from .aggressor import TICK_RULE_METHOD, UNKNOWN, time_ordered_sides

DEFAULT_RATIO = 3.0
DEFAULT_MIN_VOLUME = 1.0
DEFAULT_STACK = 3
MODES = ("diagonal", "horizontal")

BUCKET_RULE = (
    "floor(price / row_size) * row_size on integer row indices; a price within 1e-9 row "
    "(or 1e-14 relative) below a row boundary is snapped onto it, then the row price is "
    "rounded to row_size's decimals"
)
POC_RULE = "row with the largest total volume; ties: nearest the middle of the range, then lower"


def bucket(price, row_size: float):
    """Row price of ``price``: ``floor(price / row_size) * row_size``, robust to float error.

    ``bucket(5528.75, 0.25) == 5528.75`` and ``bucket(0.3, 0.1) == 0.3`` although
    ``0.3 / 0.1`` is 2.9999999999999996 in binary floating point: a quotient within 1e-9
    (or 1e-14 relative) below an integer counts as that integer. Scalars give a float,
    arrays an array.
    """
    row_size = check_positive(row_size, "row_size")
    arr = np.asarray(price, dtype=np.float64)
    out = row_price(row_index(np.atleast_1d(arr), row_size), row_size)
    return float(out[0]) if arr.ndim == 0 else out


@dataclass
class FootprintLevels:
    """Columnar footprint: levels sorted by (bar, row); ``starts`` splits them per bar."""

    bar_time: np.ndarray  # int64 [bars]
    starts: np.ndarray  # int64 [bars] first level of each bar
    row: np.ndarray  # int64 [levels] row index (price = row * row_size)
    bid: np.ndarray  # float64 [levels]
    ask: np.ndarray  # float64 [levels]
    trades: np.ndarray  # int64 [levels]
    delta_high: np.ndarray  # float64 [bars]
    delta_low: np.ndarray  # float64 [bars]


def _summed_levels(
    bar: np.ndarray,
    row: np.ndarray,
    *,
    delta_high: np.ndarray,
    delta_low: np.ndarray,
    bid: np.ndarray,
    ask: np.ndarray,
    trades: np.ndarray,
) -> FootprintLevels:
    """Levels from unsorted inputs (trades or stored rows): ``bid``/``ask``/``trades``
    summed per (bar start, row index), sorted by bar then row."""
    order = np.lexsort((row, bar))
    bar_o, row_o = bar[order], row[order]
    lstarts = change_starts(bar_o, row_o)
    sums = {
        name: np.add.reduceat(values[order], lstarts)
        if bar.shape[0]
        else np.zeros(0, dtype=values.dtype)
        for name, values in (("bid", bid), ("ask", ask), ("trades", trades))
    }
    level_bar = bar_o[lstarts]
    starts = change_starts(level_bar)
    return FootprintLevels(
        bar_time=level_bar[starts],
        starts=starts,
        row=row_o[lstarts],
        delta_high=delta_high,
        delta_low=delta_low,
        **sums,
    )


def _imbalance_method(ratio: float, min_volume: float, mode: str, stack: int) -> dict:
    if mode == "diagonal":
        rule = (
            "buy at P+1 when ask(P+1) >= ratio * bid(P); sell at P when "
            "bid(P) >= ratio * ask(P+1); P and P+1 adjacent rows inside the bar's range"
        )
    else:
        rule = "buy at P when ask(P) >= ratio * bid(P); sell at P when bid(P) >= ratio * ask(P)"
    return {
        "mode": mode,
        "ratio": ratio,
        "min_volume": min_volume,
        "rule": rule,
        "zero": (
            "a zero on the compared side counts only when the other side >= min_volume; "
            "the imbalanced side must be > 0"
        ),
        "stacked": {
            "min_rows": stack,
            "rule": (
                f"{stack}+ adjacent rows of one bar with imbalances in the same direction; "
                "a longer run is one zone"
            ),
            "invalidation": (
                "buy zone: a later bar trades in a row below price_low; sell zone: a later "
                "bar trades in a row above price_high (price traded back through the zone)"
            ),
        },
    }


def _check_params(row_size, ratio, min_volume, mode, stack):
    row_size = check_positive(row_size, "row_size")
    ratio = check_positive(ratio, "ratio")
    min_volume = check_non_negative(min_volume, "min_volume")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if int(stack) != stack or stack < 1:
        raise ValueError("stack must be a positive integer")
    return row_size, ratio, min_volume, int(stack)


def footprint_levels_from_trades(
    ts_ns,
    price,
    size,
    side=None,
    *,
    timeframe: int,
    row_size: float,
    origin: int = 0,
    prev_price: float | None = None,
    prev_side: int = UNKNOWN,
) -> tuple[FootprintLevels, int]:
    """Columnar footprint from trades and the number of sides the tick rule inferred."""
    ts_ns, price, size, n = as_trades(price, size, ts_ns)
    timeframe = check_timeframe(timeframe)
    row_size = check_positive(row_size, "row_size")
    ts_ns, price, size, sides, inferred = time_ordered_sides(
        ts_ns, price, size, side, prev_price=prev_price, prev_side=prev_side
    )

    bar = bar_start(ts_ns // 1_000_000_000, timeframe, origin)
    _, delta_high, delta_low = trade_bar_deltas(size * sides, change_starts(bar))
    levels = _summed_levels(
        bar,
        row_index(price, row_size),
        delta_high=delta_high,
        delta_low=delta_low,
        bid=np.where(sides < 0, size, 0.0),
        ask=np.where(sides > 0, size, 0.0),
        trades=np.ones(n, dtype=np.int64),
    )
    return levels, inferred


def footprint_levels_from_rows(
    bar_ts,
    price,
    bid_volume,
    ask_volume,
    trades=None,
    *,
    timeframe: int,
    row_size: float,
    origin: int = 0,
    delta_time=None,
    delta_high=None,
    delta_low=None,
) -> tuple[FootprintLevels, str]:
    """Columnar footprint from stored rows and how the delta extremes were obtained."""
    bar_ts = as_i64(bar_ts, "bar_ts")
    price = as_f64(price, "price")
    bid_volume = as_f64(bid_volume, "bid_volume")
    ask_volume = as_f64(ask_volume, "ask_volume")
    count = None if trades is None else as_i64(trades, "trades")
    n = check_lengths(
        bar_ts=bar_ts, price=price, bid_volume=bid_volume, ask_volume=ask_volume, trades=count
    )
    check_finite(price=price, bid_volume=bid_volume, ask_volume=ask_volume)
    if np.any(bid_volume < 0) or np.any(ask_volume < 0):
        raise ValueError("volumes must be >= 0")
    timeframe = check_timeframe(timeframe)
    row_size = check_positive(row_size, "row_size")
    if count is None:
        count = np.zeros(n, dtype=np.int64)

    # Source bars (e.g. 1 minute): their delta from the rows, their extremes from the
    # caller's bars where given, merged into the target bars in time order.
    src_order = np.argsort(bar_ts, kind="stable")
    src_sorted = bar_ts[src_order]
    src_starts = change_starts(src_sorted)
    src_time = src_sorted[src_starts]
    src_delta = (
        np.add.reduceat((ask_volume - bid_volume)[src_order], src_starts) if n else np.zeros(0)
    )
    src_high = np.full(src_time.shape[0], np.nan)
    src_low = np.full(src_time.shape[0], np.nan)
    extremes = "source_bar_closes"
    if delta_time is not None:
        d_time = as_i64(delta_time, "delta_time")
        d_high = as_f64(delta_high, "delta_high")
        d_low = as_f64(delta_low, "delta_low")
        check_lengths(delta_time=d_time, delta_high=d_high, delta_low=d_low)
        d_order = np.argsort(d_time, kind="stable")
        d_time, d_high, d_low = d_time[d_order], d_high[d_order], d_low[d_order]
        if d_time.size:
            pos = np.clip(np.searchsorted(d_time, src_time), 0, d_time.shape[0] - 1)
            found = d_time[pos] == src_time
            src_high = np.where(found, d_high[pos], np.nan)
            src_low = np.where(found, d_low[pos], np.nan)
        else:
            found = np.zeros(src_time.shape[0], dtype=bool)
        complete = found & np.isfinite(src_high) & np.isfinite(src_low)
        extremes = "source_bars" if complete.all() else "source_bars_partial"
    target = bar_start(src_time, timeframe, origin)
    _, bar_high, bar_low = combine_bar_deltas(src_delta, src_high, src_low, change_starts(target))

    levels = _summed_levels(
        bar_start(bar_ts, timeframe, origin),
        row_index(price, row_size),
        delta_high=bar_high,
        delta_low=bar_low,
        bid=bid_volume,
        ask=ask_volume,
        trades=count,
    )
    return levels, extremes


# ------------------------------------------------------------------------------ analysis


def _bar_pocs(row: np.ndarray, units: np.ndarray, starts: np.ndarray, ids: np.ndarray):
    """Row index of each bar's POC (largest volume; ties nearest the mid-range, then lower)."""
    low = row[starts]
    high = np.maximum.reduceat(row, starts)
    peak = np.maximum.reduceat(units, starts)
    cand = np.flatnonzero(units == peak[ids])
    distance = np.abs(2 * row[cand] - (low + high)[ids[cand]])
    ordered = cand[np.lexsort((row[cand], distance, ids[cand]))]
    first = change_starts(ids[ordered])
    return row[ordered[first]], low, high


def _strong(strong: np.ndarray, weak: np.ndarray, raw_strong: np.ndarray, ratio, min_volume):
    """``strong`` side wins against ``weak`` (units) under the ratio and the zero rule."""
    return (strong > 0) & np.where(weak > 0, strong >= ratio * weak, raw_strong >= min_volume)


def imbalance_flags(
    levels: FootprintLevels,
    *,
    ratio: float = DEFAULT_RATIO,
    min_volume: float = DEFAULT_MIN_VOLUME,
    mode: str = "diagonal",
    decimals: int | None = None,
) -> dict[str, np.ndarray]:
    """Per level: buy/sell imbalance flags and the compared volumes (vectorised)."""
    n = levels.row.shape[0]
    if decimals is None:
        decimals = unit_decimals(float(levels.bid.sum() + levels.ask.sum()))
    bid_u = volume_units(levels.bid, decimals)
    ask_u = volume_units(levels.ask, decimals)
    ids = group_ids(levels.starts, n)
    same_prev = np.zeros(n, dtype=bool)
    same_prev[1:] = ids[1:] == ids[:-1]
    adjacent_prev = same_prev.copy()
    adjacent_prev[1:] &= levels.row[1:] == levels.row[:-1] + 1
    same_next = np.append(same_prev[1:], False)
    adjacent_next = np.append(adjacent_prev[1:], False)
    if mode == "diagonal":
        # Buy at P+1 (this level) vs bid(P) one row below; a missing row inside the bar's
        # range has zero volume. Sell at P (this level) vs ask(P+1) one row above.
        bid_below_u = np.where(adjacent_prev, np.roll(bid_u, 1), 0.0)
        ask_above_u = np.where(adjacent_next, np.roll(ask_u, -1), 0.0)
        bid_below = np.where(adjacent_prev, np.roll(levels.bid, 1), 0.0)
        ask_above = np.where(adjacent_next, np.roll(levels.ask, -1), 0.0)
        buy = same_prev & _strong(ask_u, bid_below_u, levels.ask, ratio, min_volume)
        sell = same_next & _strong(bid_u, ask_above_u, levels.bid, ratio, min_volume)
        buy_against, sell_against = bid_below, ask_above
        buy_offset, sell_offset = -1, 1
    else:
        buy = _strong(ask_u, bid_u, levels.ask, ratio, min_volume)
        sell = _strong(bid_u, ask_u, levels.bid, ratio, min_volume)
        buy_against, sell_against = levels.bid, levels.ask
        buy_offset = sell_offset = 0
    return {
        "buy": buy,
        "sell": sell,
        "buy_against": buy_against,
        "sell_against": sell_against,
        "buy_offset": buy_offset,
        "sell_offset": sell_offset,
        "adjacent_prev": adjacent_prev,
        "ids": ids,
    }


def stacked_zones(
    levels: FootprintLevels, flags: dict[str, np.ndarray], *, stack: int = DEFAULT_STACK
) -> list[dict]:
    """Runs of ``stack``+ adjacent imbalance rows per bar, with invalidation.

    Returns zone records (row indices, bar index, direction, invalidation bar index or -1),
    sorted by bar, then price. Vectorised over levels; the invalidation search is one
    (zones x bars) comparison per direction.
    """
    ids = flags["ids"]
    adjacent_prev = flags["adjacent_prev"]
    n_bars = levels.starts.shape[0]
    bar_low = levels.row[levels.starts] if n_bars else np.zeros(0, dtype=np.int64)
    bar_high = np.maximum.reduceat(levels.row, levels.starts) if n_bars else bar_low
    zones: list[dict] = []
    for direction in ("buy", "sell"):
        flag = flags[direction]
        cont = np.zeros_like(flag)
        cont[1:] = flag[1:] & flag[:-1] & adjacent_prev[1:]
        first = np.flatnonzero(flag & ~cont)
        if first.size == 0:
            continue
        run_id = np.cumsum(flag & ~cont) - 1
        lengths = np.bincount(run_id[flag], minlength=first.size)
        keep = lengths >= stack
        first, lengths = first[keep], lengths[keep]
        if first.size == 0:
            continue
        low = levels.row[first]
        high = levels.row[first + lengths - 1]
        bar_idx = ids[first]
        when = np.full(first.shape[0], -1, dtype=np.int64)
        for c in range(0, first.shape[0], 1024):  # bounds the (zones x bars) matrix
            part = slice(c, c + 1024)
            later = np.arange(n_bars)[None, :] > bar_idx[part, None]
            if direction == "buy":
                through = later & (bar_low[None, :] < low[part, None])
            else:
                through = later & (bar_high[None, :] > high[part, None])
            when[part] = np.where(through.any(axis=1), np.argmax(through, axis=1), -1)
        for i in range(first.shape[0]):
            zones.append(
                {
                    "direction": direction,
                    "low": int(low[i]),
                    "high": int(high[i]),
                    "rows": int(lengths[i]),
                    "bar": int(bar_idx[i]),
                    "invalidated_bar": int(when[i]),
                }
            )
    zones.sort(key=lambda z: (z["bar"], z["low"], z["direction"]))
    return zones


def _zone_dicts(zones: list[dict], bar_time: np.ndarray, row_size: float) -> list[dict]:
    if not zones:
        return []
    low = row_price(np.array([z["low"] for z in zones]), row_size).tolist()
    high = row_price(np.array([z["high"] for z in zones]), row_size).tolist()
    times = bar_time.tolist()
    return [
        {
            "direction": zone["direction"],
            "price_low": price_low,
            "price_high": price_high,
            "bar_time": times[zone["bar"]],
            "rows": zone["rows"],
            "active": zone["invalidated_bar"] < 0,
            "invalidated_time": times[zone["invalidated_bar"]]
            if zone["invalidated_bar"] >= 0
            else None,
        }
        for zone, price_low, price_high in zip(zones, low, high, strict=True)
    ]


def _imbalance_dicts(
    levels: FootprintLevels, flags: dict[str, np.ndarray], prices: np.ndarray, row_size: float
) -> tuple[list[dict], np.ndarray]:
    """Imbalance records in level order (at one level: buy, then sell) and the offset of
    each bar's first record (``bars + 1`` bounds). ``ratio``: the imbalanced side over the
    compared one, rounded by Python's ``round`` to 6 decimals; None against a zero."""
    records: list[dict] = []
    at_parts, side_parts = [], []
    for side_no, (side, strong) in enumerate((("buy", levels.ask), ("sell", levels.bid))):
        at = np.flatnonzero(flags[side])
        against = flags[f"{side}_against"][at]
        nonzero = against > 0
        ratio = np.divide(strong[at], against, out=np.zeros(at.shape[0]), where=nonzero)
        compared = row_price(levels.row[at] + flags[f"{side}_offset"], row_size)
        records += [
            {
                "price": price,
                "side": side,
                "ratio": round(r, 6) if ok else None,
                "compared_price": c,
            }
            for price, r, ok, c in zip(
                prices[at].tolist(),
                ratio.tolist(),
                nonzero.tolist(),
                compared.tolist(),
                strict=True,
            )
        ]
        at_parts.append(at)
        side_parts.append(np.full(at.shape[0], side_no))
    at = np.concatenate(at_parts)
    order = np.lexsort((np.concatenate(side_parts), at))
    bar_of = flags["ids"][at[order]]
    bounds = np.searchsorted(bar_of, np.arange(levels.starts.shape[0] + 1))
    return [records[i] for i in order.tolist()], bounds


def build_footprint(
    levels: FootprintLevels,
    *,
    timeframe: int,
    row_size: float,
    ratio: float = DEFAULT_RATIO,
    min_volume: float = DEFAULT_MIN_VOLUME,
    mode: str = "diagonal",
    stack: int = DEFAULT_STACK,
    method_extra: dict | None = None,
) -> dict:
    """JSON-ready footprint from columnar levels (see :func:`footprint_from_trades`)."""
    row_size, ratio, min_volume, stack = _check_params(row_size, ratio, min_volume, mode, stack)
    n = levels.row.shape[0]
    total = float(levels.bid.sum() + levels.ask.sum())
    decimals = unit_decimals(total)
    method = {
        "name": "footprint",
        "timeframe": timeframe,
        "row_size": row_size,
        "bucket": BUCKET_RULE,
        "delta": "ask_volume - bid_volume (ask = buyer-initiated, bid = seller-initiated)",
        "poc": POC_RULE,
        "delta_range": (
            "delta_high/delta_low: highest/lowest running delta inside the bar, relative to "
            "the bar start, including 0"
        ),
        "volume_decimals": max(decimals, 0),
        "imbalance": _imbalance_method(ratio, min_volume, mode, stack),
    }
    if method_extra:
        method.update(method_extra)
    if n == 0:
        return {"method": method, "bars": [], "stacked_zones": []}

    ids = group_ids(levels.starts, n)
    units = volume_units(levels.bid + levels.ask, decimals)
    poc_row, low_row, high_row = _bar_pocs(levels.row, units, levels.starts, ids)
    flags = imbalance_flags(levels, ratio=ratio, min_volume=min_volume, mode=mode)
    zones = stacked_zones(levels, flags, stack=stack)

    out_dec = max(decimals, 0)
    bid = np.round(levels.bid, out_dec)
    ask = np.round(levels.ask, out_dec)
    delta = np.round(ask - bid, out_dec)
    prices = row_price(levels.row, row_size)
    bar_bid = np.round(np.add.reduceat(levels.bid, levels.starts), out_dec)
    bar_ask = np.round(np.add.reduceat(levels.ask, levels.starts), out_dec)
    bar_trades = np.add.reduceat(levels.trades, levels.starts)
    poc_price = row_price(poc_row, row_size)
    low_price = row_price(low_row, row_size)
    high_price = row_price(high_row, row_size)
    bar_delta = np.round(bar_ask - bar_bid, out_dec)
    d_high = np.maximum(np.round(levels.delta_high, out_dec), np.maximum(bar_delta, 0.0))
    d_low = np.minimum(np.round(levels.delta_low, out_dec), np.minimum(bar_delta, 0.0))

    # JSON-ready output: every number goes through ``tolist`` once, per column, and each
    # dict is made in one comprehension (the footprint API's 1-day, 5-minute request builds
    # about 8,000 level dicts; this is most of the library's time there).
    level_dicts = [
        {"price": p, "bid_volume": b, "ask_volume": a, "delta": d, "trades": t}
        for p, b, a, d, t in zip(
            prices.tolist(),
            bid.tolist(),
            ask.tolist(),
            delta.tolist(),
            levels.trades.tolist(),
            strict=True,
        )
    ]
    imbalances, imb_bounds = _imbalance_dicts(levels, flags, prices, row_size)
    zone_dicts = _zone_dicts(zones, levels.bar_time, row_size)
    zones_by_bar: dict[int, list] = {}
    for z, zd in zip(zones, zone_dicts, strict=True):
        zones_by_bar.setdefault(z["bar"], []).append(zd)

    bounds = [*levels.starts.tolist(), n]
    ib = imb_bounds.tolist()
    columns = zip(
        levels.bar_time.tolist(),
        poc_price.tolist(),
        high_price.tolist(),
        low_price.tolist(),
        (bar_bid + bar_ask).tolist(),
        bar_bid.tolist(),
        bar_ask.tolist(),
        bar_delta.tolist(),
        d_high.tolist(),
        d_low.tolist(),
        bar_trades.tolist(),
        strict=True,
    )
    bars = [
        {
            "time": time,
            "levels": level_dicts[bounds[b] : bounds[b + 1]],
            "poc": poc,
            "high": high,
            "low": low,
            "volume": round(volume, out_dec),
            "bid_volume": bar_b,
            "ask_volume": bar_a,
            "delta": bar_d,
            "delta_high": dh,
            "delta_low": dl,
            "trades": trades,
            "imbalances": imbalances[ib[b] : ib[b + 1]],
            "stacked_imbalances": zones_by_bar.get(b, []),
        }
        for b, (time, poc, high, low, volume, bar_b, bar_a, bar_d, dh, dl, trades) in enumerate(
            columns
        )
    ]
    return {"method": method, "bars": bars, "stacked_zones": zone_dicts}


def footprint_from_trades(
    ts_ns,
    price,
    size,
    side=None,
    *,
    timeframe: int,
    row_size: float,
    origin: int = 0,
    prev_price: float | None = None,
    prev_side: int = UNKNOWN,
    ratio: float = DEFAULT_RATIO,
    min_volume: float = DEFAULT_MIN_VOLUME,
    mode: str = "diagonal",
    stack: int = DEFAULT_STACK,
) -> dict:
    """Footprint bars of ``timeframe`` seconds from trades.

    ``side`` is +1/-1 per trade, 0 (or ``side=None``) where the feed gave none: those are
    classified by the tick rule (``prev_price``/``prev_side`` = last trade before the
    batch). Trades need not be sorted (they are stably sorted by ``ts_ns``).

    Returns ``{"method": {...}, "bars": [bar, ...], "stacked_zones": [zone, ...]}`` with
    bars oldest first::

        {"time": epoch_s, "levels": [{"price", "bid_volume", "ask_volume", "delta",
         "trades"}, ...] (ascending price, only rows that traded), "poc", "high", "low"
         (row prices), "volume", "bid_volume", "ask_volume", "delta", "delta_high",
         "delta_low", "trades", "imbalances": [{"price", "side": "buy"|"sell", "ratio"
         (None when the compared side is 0), "compared_price"}], "stacked_imbalances":
         [zones formed in this bar]}

    and zones ``{"direction": "buy"|"sell", "price_low", "price_high", "bar_time",
    "rows", "active", "invalidated_time"}``.
    """
    levels, inferred = footprint_levels_from_trades(
        ts_ns,
        price,
        size,
        side,
        timeframe=timeframe,
        row_size=row_size,
        origin=origin,
        prev_price=prev_price,
        prev_side=prev_side,
    )
    extra = {
        "source": "trades",
        "origin": int(origin),
        "aggressor": {**TICK_RULE_METHOD, "applied_to": "trades without a feed side"},
        "inferred_sides": inferred,
        "delta_extremes": "trades",
    }
    return build_footprint(
        levels,
        timeframe=check_timeframe(timeframe),
        row_size=row_size,
        ratio=ratio,
        min_volume=min_volume,
        mode=mode,
        stack=stack,
        method_extra=extra,
    )


def footprint_from_rows(
    bar_ts,
    price,
    bid_volume,
    ask_volume,
    trades=None,
    *,
    timeframe: int,
    row_size: float,
    origin: int = 0,
    delta_time=None,
    delta_high=None,
    delta_low=None,
    ratio: float = DEFAULT_RATIO,
    min_volume: float = DEFAULT_MIN_VOLUME,
    mode: str = "diagonal",
    stack: int = DEFAULT_STACK,
) -> dict:
    """Footprint bars of ``timeframe`` seconds from stored footprint rows.

    Rows (``bar_ts`` = source bar start, e.g. 1-minute; ``price`` = stored row price) are
    re-bucketed to ``row_size`` (a multiple of the stored row size) and summed into bars of
    ``timeframe`` (a multiple of the source bar length). ``delta_time``/``delta_high``/
    ``delta_low`` are the source bars' running delta extremes (relative to each source
    bar's start); without them the extremes come from the source bars' closes, and the
    ``method`` says so. Same output as :func:`footprint_from_trades`.
    """
    levels, extremes = footprint_levels_from_rows(
        bar_ts,
        price,
        bid_volume,
        ask_volume,
        trades,
        timeframe=timeframe,
        row_size=row_size,
        origin=origin,
        delta_time=delta_time,
        delta_high=delta_high,
        delta_low=delta_low,
    )
    extra = {"source": "footprint_rows", "origin": int(origin), "delta_extremes": extremes}
    return build_footprint(
        levels,
        timeframe=check_timeframe(timeframe),
        row_size=row_size,
        ratio=ratio,
        min_volume=min_volume,
        mode=mode,
        stack=stack,
        method_extra=extra,
    )
