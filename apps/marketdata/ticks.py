"""The in-memory shape of a batch of trades, shared by every feed and the ingest path.

Columns are numpy arrays of equal length so that validation, aggressor classification and
the binary COPY into the store are vectorised (DESIGN: build rows column-wise in numpy).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BUY = 1  # aggressor bought (lifted the offer): counts as ask volume
SELL = -1  # aggressor sold (hit the bid): counts as bid volume
UNKNOWN = 0  # to be classified by the tick rule


@dataclass(frozen=True)
class TickBatch:
    ts_ns: np.ndarray  # int64, epoch nanoseconds UTC
    price: np.ndarray  # float64
    size: np.ndarray  # float64
    side: np.ndarray  # int8: BUY, SELL or UNKNOWN
    trade_id: np.ndarray  # object: str or None (exchange trade id, for idempotency)

    def __len__(self) -> int:
        return int(self.ts_ns.shape[0])

    @classmethod
    def from_columns(cls, ts_ns, price, size, side=None, trade_id=None) -> TickBatch:
        n = len(ts_ns)
        return cls(
            ts_ns=np.asarray(ts_ns, dtype=np.int64),
            price=np.asarray(price, dtype=np.float64),
            size=np.asarray(size, dtype=np.float64),
            side=(np.zeros(n, dtype=np.int8) if side is None else np.asarray(side, dtype=np.int8)),
            trade_id=(
                np.full(n, None, dtype=object)
                if trade_id is None
                else np.asarray(trade_id, dtype=object)
            ),
        )

    def take(self, index) -> TickBatch:
        return TickBatch(
            self.ts_ns[index],
            self.price[index],
            self.size[index],
            self.side[index],
            self.trade_id[index],
        )
