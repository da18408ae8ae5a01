"""Aggressor side of trades: the feed's when known, else the tick rule (SPEC 7).

Sides are int8: ``BUY = +1`` (the aggressor lifted the offer: ask volume), ``SELL = -1``
(the aggressor hit the bid: bid volume), ``UNKNOWN = 0``.

Tick rule, for a trade whose side is unknown, in time order:

* price above the previous trade's price: buy;
* price below it: sell;
* equal: the previous trade's classification (the feed's side when the feed gave one,
  else the one inferred for it).

The first trade of a batch is compared with ``prev_price`` / ``prev_side`` (the last trade
the caller stored before this batch), so a batch split in two classifies exactly like the
whole. When nothing is known before it (no ``prev_price``, or an equal price and no
``prev_side``) the first unknown trades take ``initial_side``, BUY by default: an
arbitrary but stable choice, reported through ``method`` so it is never silent.
"""

from __future__ import annotations

import numpy as np

from ._core import as_f64, check_finite, check_lengths

BUY = 1
SELL = -1
UNKNOWN = 0

_BUY_CODES = frozenset({"B", "BUY", "+1", "1"})
_SELL_CODES = frozenset({"A", "S", "SELL", "-1"})

TICK_RULE_METHOD = {
    "name": "tick_rule",
    "rule": "price > previous trade: buy; < : sell; equal: previous trade's classification",
    "first_trade": "compared with prev_price/prev_side; else initial_side",
}


def parse_sides(codes) -> np.ndarray:
    """Map feed side codes to int8 sides.

    ``B``/``buy`` -> BUY; ``A``/``S``/``sell`` -> SELL (Databento's ``A`` is a sell
    aggressor, Binance files here use ``S``); anything else (``N``, empty, None) -> UNKNOWN.
    Case-insensitive. Integers +1/-1/0 pass through.
    """
    arr = np.asarray(codes, dtype=object)
    out = np.zeros(arr.shape[0], dtype=np.int8)
    for i, code in enumerate(arr.tolist()):
        if code is None:
            continue
        if isinstance(code, (int, np.integer)) and not isinstance(code, bool):
            out[i] = int(np.sign(code))
            continue
        text = str(code).strip().upper()
        if text in _BUY_CODES:
            out[i] = BUY
        elif text in _SELL_CODES:
            out[i] = SELL
    return out


def classify_aggressor(
    price,
    side=None,
    *,
    prev_price: float | None = None,
    prev_side: int = UNKNOWN,
    initial_side: int = BUY,
) -> np.ndarray:
    """Return int8 sides: the given side where known (+1/-1), the tick rule where 0.

    ``price`` and ``side`` must be in time order. ``side=None`` classifies every trade
    by the tick rule. Vectorised: known sides and non-zero ticks decide a trade; an
    undecided trade (equal price, unknown side) takes the decision of the nearest decided
    trade before it (forward fill).
    """
    price = as_f64(price, "price")
    check_finite(price=price)
    n = price.shape[0]
    if side is None:
        known = np.zeros(n, dtype=np.int8)
    else:
        known = np.sign(np.asarray(side)).astype(np.int8)
        check_lengths(price=price, side=known)
    if initial_side not in (BUY, SELL):
        raise ValueError("initial_side must be BUY (+1) or SELL (-1)")
    if n == 0:
        return known.copy()

    before = np.nan if prev_price is None else float(prev_price)
    previous = np.concatenate([[before], price[:-1]])
    tick = np.sign(price - previous)  # NaN for the first trade when nothing came before
    tick = np.where(np.isnan(tick), 0.0, tick).astype(np.int8)
    decided = np.where(known != 0, known, tick)

    # Forward fill the decisions over the undecided trades.
    has = decided != 0
    last = np.where(has, np.arange(n), -1)
    np.maximum.accumulate(last, out=last)
    start = np.int8(prev_side if prev_side in (BUY, SELL) else initial_side)
    filled = np.where(last >= 0, decided[np.maximum(last, 0)], start)
    return filled.astype(np.int8)


def time_ordered_sides(ts_ns, price, size, side, *, prev_price, prev_side):
    """Trades (validated by ``as_trades``) stably sorted by ``ts_ns`` when they are not,
    and their sides: ``(ts_ns, price, size, sides, inferred)`` where ``inferred`` counts
    the sides the tick rule decided."""
    raw_side = None if side is None else np.asarray(side)
    if raw_side is not None:
        check_lengths(price=price, side=raw_side)
    n = price.shape[0]
    if n and np.any(np.diff(ts_ns) < 0):
        order = np.argsort(ts_ns, kind="stable")
        ts_ns, price, size = ts_ns[order], price[order], size[order]
        raw_side = None if raw_side is None else raw_side[order]
    sides = classify_aggressor(price, raw_side, prev_price=prev_price, prev_side=prev_side)
    return ts_ns, price, size, sides, count_inferred(raw_side, n)


def count_inferred(side, n: int) -> int:
    """How many of ``n`` trades had no side from the feed (so the tick rule decided)."""
    if side is None:
        return int(n)
    return int(np.count_nonzero(np.asarray(side) == 0))
