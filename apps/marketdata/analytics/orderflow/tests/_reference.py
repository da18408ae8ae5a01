"""Straightforward (loop-based) reference implementations the tests compare against.

Written from SPEC 7 independently of the vectorised library code.
"""

from __future__ import annotations

import math
from collections import defaultdict
from decimal import Decimal


def tick_rule(prices, sides, prev_price=None, prev_side=0):
    out = []
    last_price, last_side = prev_price, prev_side
    for p, s in zip(prices, sides, strict=True):
        if s != 0:
            c = s
        elif last_price is None or p == last_price:
            c = last_side if last_side != 0 else 1
        else:
            c = 1 if p > last_price else -1
        out.append(c)
        last_price, last_side = p, c
    return out


def row_of(price: float, row_size: float) -> Decimal:
    """Row price with exact decimal arithmetic: floor(price / row) * row."""
    p = Decimal(repr(price))
    r = Decimal(repr(row_size))
    return (p / r).to_integral_value(rounding="ROUND_FLOOR") * r


def dual_price_value_area(volumes, pct=70.0):
    """(poc, lo, hi) indices over a contiguous list of row volumes, by the book."""
    n = len(volumes)
    total = sum(volumes)
    best = max(volumes)
    middle = (n - 1) / 2
    poc = min((i for i in range(n) if volumes[i] == best), key=lambda i: (abs(i - middle), i))
    lo = hi = poc
    included = volumes[poc]
    while included * 100 < pct * total:
        up = volumes[hi + 1 : hi + 3]
        down = volumes[max(lo - 2, 0) : lo]
        if not up and not down:
            break
        if up and (not down or sum(up) >= sum(down)):
            hi += len(up)
            included += sum(up)
        else:
            lo -= len(down)
            included += sum(down)
    return poc, lo, hi


def footprint_dict(ts_ns, prices, sizes, sides, timeframe, row_size):
    """{(bar, row Decimal): [bid, ask, trades]} by direct aggregation."""
    out = defaultdict(lambda: [0.0, 0.0, 0])
    for t, p, q, s in zip(ts_ns, prices, sizes, sides, strict=True):
        bar = (int(t) // 1_000_000_000) // timeframe * timeframe
        cell = out[(bar, row_of(float(p), row_size))]
        if s < 0:
            cell[0] += float(q)
        elif s > 0:
            cell[1] += float(q)
        cell[2] += 1
    return out


def running_delta_extremes(ts_ns, sizes, sides, timeframe):
    """{bar: (delta, high, low)} walking trades one by one."""
    out = {}
    for t, q, s in zip(ts_ns, sizes, sides, strict=True):
        bar = (int(t) // 1_000_000_000) // timeframe * timeframe
        d, h, lo = out.get(bar, (0.0, 0.0, 0.0))
        d += float(q) * s
        out[bar] = (d, max(h, d), min(lo, d))
    return out


def close(a, b, tol=1e-9):
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)
