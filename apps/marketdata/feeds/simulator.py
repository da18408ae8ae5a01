"""The simulated demo feed: realistic-looking trades for the SIM symbols.

Prices follow a random walk on the tick grid with volatility clustering (GARCH-like
variance updates) and a slow mean reversion; trade sizes are log-normal; arrivals are
Poisson; aggressor sides lean with short-term momentum. It is a demo, not a market model:
its only job is to make charts, footprints and alerts move like a real market would.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from apps.marketdata.ticks import BUY, SELL, TickBatch

START_PRICES = {"SIM-ES": 5500.0, "SIM-BTC": 60000.0, "SIM-EUR": 1.08}


@dataclass
class RandomWalk:
    price: float
    tick: float
    typical_size: float
    anchor: float = 0.0
    variance: float = 1.0
    momentum: float = 0.0
    rng: np.random.Generator = field(default_factory=np.random.default_rng)

    def __post_init__(self) -> None:
        self.anchor = self.anchor or self.price

    def trades(
        self, start_ns: int, end_ns: int, rate_per_s: float, seq_start: int, prefix: str
    ) -> TickBatch:
        """Trades with arrival times in [start_ns, end_ns)."""
        seconds = (end_ns - start_ns) / 1e9
        n = int(self.rng.poisson(max(rate_per_s * seconds, 0.0)))
        if n == 0:
            return TickBatch.from_columns([], [], [], [], [])
        ts = np.sort(self.rng.integers(start_ns, end_ns, size=n))
        steps = np.empty(n)
        for i in range(n):  # variance clustering needs the previous step: a short loop
            self.variance = 0.94 * self.variance + 0.06 * (steps[i - 1] ** 2 if i else 1.0)
            self.variance = min(max(self.variance, 0.2), 6.0)
            steps[i] = self.rng.normal(0.0, np.sqrt(self.variance) * 0.7)
        ticks_moved = np.rint(steps).astype(np.int64)
        reversion = (self.anchor - self.price) / (self.tick * 4000.0)
        ticks_moved += (self.rng.random(n) < abs(reversion)).astype(np.int64) * int(
            np.sign(reversion)
        )
        path = self.price + np.cumsum(ticks_moved) * self.tick
        path = np.maximum(path, self.tick)
        decimals = max(0, int(-np.floor(np.log10(self.tick))) + 1)
        prices = np.round(np.round(path / self.tick) * self.tick, decimals)
        moves = np.diff(np.concatenate([[self.price], prices]))
        self.momentum = 0.9 * self.momentum + 0.1 * float(np.sign(moves).sum())
        lean = 0.5 + 0.35 * np.tanh(np.sign(moves) + 0.1 * self.momentum)
        sides = np.where(self.rng.random(n) < lean, BUY, SELL).astype(np.int8)
        sizes = np.maximum(1.0, np.round(self.rng.lognormal(0.0, 1.0, n) * self.typical_size))
        if self.typical_size < 1:
            sizes = np.round(self.rng.lognormal(0.0, 1.0, n) * self.typical_size, 4) + 0.0001
        self.price = float(prices[-1])
        ids = np.array([f"{prefix}-{seq_start + i}" for i in range(n)], dtype=object)
        return TickBatch.from_columns(ts, prices, sizes, sides, ids)


def walk_for(
    symbol: str, tick: float, last_price: float | None, seed: int | None = None
) -> RandomWalk:
    start = last_price or START_PRICES.get(symbol.upper(), 100.0)
    typical = 0.05 if "BTC" in symbol.upper() else (1.0 if tick >= 0.01 else 100_000.0)
    return RandomWalk(
        price=start,
        tick=tick,
        typical_size=typical,
        anchor=START_PRICES.get(symbol.upper(), start),
        rng=np.random.default_rng(seed),
    )
