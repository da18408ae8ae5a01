"""The one place that publishes market data to live subscribers (DESIGN: publish only
through one module, only after commit).

Ingest calls ``publish_trades``/``publish_bar`` from ``on_commit`` hooks. Per symbol, the
trades are coalesced: at most one message per ``TRADEFLOW_BROADCAST_INTERVAL_MS`` (100 ms),
carrying a summary of every trade since the last message (so candles stay exact even
when the trade list is capped) and the trades themselves. Each message gets the next
per-symbol ``seq`` from Redis (``INCR``), shared by every process, so a client that sees a
gap knows to re-sync through the REST bars endpoint.

Each message is encoded once, as the ``tick`` JSON clients receive, and published once on
the symbol's Redis pub/sub channel (``live_hub.channel_for``); each server process
receives it on one subscription and delivers it to its own consumers (``live_hub``),
which is what keeps fan-out cheap.

The coalescer is a daemon thread with its own event loop, started on first use in any
process that ingests (web server, demo feed, importers). ``flush()`` sends whatever is
pending, for commands that exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import orjson
from django.conf import settings

from apps.marketdata.live_hub import channel_for
from apps.marketdata.ticks import TickBatch

logger = logging.getLogger(__name__)
MAX_TRADES_PER_MESSAGE = 500
SEQ_KEY = "tf:seq:{symbol}"
GATE_KEY = "tf:bcgate:{symbol}"
GATE_RETRY_S = 0.02


@dataclass
class _Pending:
    ts: list[np.ndarray] = field(default_factory=list)
    price: list[np.ndarray] = field(default_factory=list)
    size: list[np.ndarray] = field(default_factory=list)
    side: list[np.ndarray] = field(default_factory=list)
    bars: list[dict] = field(default_factory=list)

    def add_trades(self, batch: TickBatch) -> None:
        self.ts.append(batch.ts_ns // 1_000_000)
        self.price.append(batch.price)
        self.size.append(batch.size)
        self.side.append(batch.side)

    def merge(self, later: _Pending | None) -> _Pending:
        """This pending data followed by ``later``'s (a message that could not go yet)."""
        if later is not None:
            for name in ("ts", "price", "size", "side", "bars"):
                getattr(self, name).extend(getattr(later, name))
        return self

    def data(self) -> dict:
        data: dict = {"trades": None, "summary": None, "bars": self.bars}
        if self.ts:
            ts = np.concatenate(self.ts)
            order = np.argsort(ts, kind="stable")
            ts = ts[order]
            price = np.concatenate(self.price)[order]
            size = np.concatenate(self.size)[order]
            side = np.concatenate(self.side)[order]
            tail = slice(-MAX_TRADES_PER_MESSAGE, None)
            data["trades"] = {
                "t": ts[tail].tolist(),
                "p": price[tail].tolist(),
                "s": size[tail].tolist(),
                "side": side[tail].tolist(),
            }
            data["summary"] = {
                "count": len(ts),
                "first": int(ts[0]),
                "last": int(ts[-1]),
                "open": float(price[0]),
                "high": float(price.max()),
                "low": float(price.min()),
                "close": float(price[-1]),
                "volume": float(size.sum()),
                "buy_volume": float(size[side > 0].sum()),
                "sell_volume": float(size[side < 0].sum()),
            }
        return data


def _encoded_around_seq(symbol: str, data: dict) -> tuple[bytes, bytes]:
    """The ``tick`` message's JSON before and after its seq value, which Redis fills in:
    ``{"type":"tick","symbol":..,"seq":<seq>,"data":{..}}``."""
    head = orjson.dumps({"type": "tick", "symbol": symbol})[:-1] + b',"seq":'
    return head, b',"data":' + orjson.dumps(data) + b"}"


# One round trip per message: the cross-process gate (a message per symbol at most every
# interval, whichever process sends it), the next seq, and the publish. A closed gate
# answers how long it stays closed (ms) as a number <= 0; otherwise the seq is returned.
_SEND = """
if not redis.call('SET', KEYS[1], 1, 'NX', 'PX', ARGV[1]) then
    return -math.max(redis.call('PTTL', KEYS[1]), 0)
end
local seq = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', KEYS[3], ARGV[2] .. seq .. ARGV[3])
return seq
"""


class _Coalescer:
    def __init__(self) -> None:
        self.interval = settings.BROADCAST_INTERVAL_MS / 1000
        self.lock = threading.Lock()
        self.pending: dict[str, _Pending] = {}
        self.last_sent: dict[str, float] = {}
        self.loop = asyncio.new_event_loop()
        self.wakeup = asyncio.Event()
        self.idle = threading.Event()
        self.idle.set()
        self.thread = threading.Thread(target=self._run, name="broadcast", daemon=True)
        self.thread.start()

    def submit(self, symbol: str, batch: TickBatch | None = None, bar: dict | None = None):
        with self.lock:
            pending = self.pending.get(symbol)
            new = pending is None
            if new:
                pending = self.pending[symbol] = _Pending()
            if batch is not None:
                pending.add_trades(batch)
            if bar is not None:
                pending.bars.append(bar)
            self.idle.clear()
        if new:
            # wake the pump now: a symbol that was quiet for an interval is sent at once.
            # A symbol already pending is in the pump's wait (waking it for every bar of
            # a busy symbol cost more CPU than the rest of a Sierra Chart bar POST).
            self.loop.call_soon_threadsafe(self.wakeup.set)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._pump())

    async def _pump(self) -> None:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(settings.REDIS_URL, max_connections=10)
        send = client.register_script(_SEND)
        while True:
            await self._wait_until_due()
            try:
                await self._send_due(send)
            except Exception:  # keep publishing after a Redis hiccup; the seq gap re-syncs
                logger.exception("broadcast failed; pending messages dropped")
                with self.lock:
                    self.pending.clear()
                    self.idle.set()

    async def _wait_until_due(self) -> None:
        """Sleep until a pending symbol is due (its last message is an interval old) or
        new data arrives; never poll faster than needed."""
        # cleared before looking: a symbol that becomes pending after the look sets it
        self.wakeup.clear()
        with self.lock:
            waits = [
                self.interval - (time.monotonic() - self.last_sent.get(s, 0.0))
                for s in self.pending
            ]
        timeout = max(0.0, min(waits)) if waits else 1.0
        if timeout > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), timeout)

    async def _send_due(self, send) -> None:
        now = time.monotonic()
        with self.lock:
            due = [s for s in self.pending if now - self.last_sent.get(s, 0.0) >= self.interval]
        for symbol in due:
            with self.lock:
                pending = self.pending.pop(symbol, None)
                self.last_sent[symbol] = now
            if pending is None:
                continue
            head, tail = _encoded_around_seq(symbol, pending.data())
            keys = [GATE_KEY.format(symbol=symbol), SEQ_KEY.format(symbol=symbol)]
            keys.append(channel_for(symbol))
            answer = await send(keys=keys, args=[int(self.interval * 1000), head, tail])
            if answer <= 0:
                # another process sent just now: keep the data (ahead of anything newer)
                # and look again when its gate opens
                closed_s = max(-answer / 1000, GATE_RETRY_S)
                with self.lock:
                    self.pending[symbol] = pending.merge(self.pending.get(symbol))
                    self.last_sent[symbol] = now - self.interval + closed_s
        with self.lock:
            if not self.pending:
                self.idle.set()


_coalescer: _Coalescer | None = None
_coalescer_lock = threading.Lock()


def _get() -> _Coalescer:
    global _coalescer
    with _coalescer_lock:
        if _coalescer is None or not _coalescer.thread.is_alive():
            _coalescer = _Coalescer()
        return _coalescer


def publish_trades(symbol: str, batch: TickBatch) -> None:
    if len(batch):
        _get().submit(symbol.upper(), batch=batch)


def publish_bar(symbol: str, res: int, bar: dict) -> None:
    """A bar written directly (Sierra Chart): forwarded as-is in the next message."""
    payload = {
        "res": res,
        "time": int(bar["ts_ns"][0] // 10**9),
        **{
            k: float(bar[k][0])
            for k in ("open", "high", "low", "close", "volume", "bid_volume", "ask_volume")
        },
    }
    _get().submit(symbol.upper(), bar=payload)


def flush(timeout: float = 5.0) -> bool:
    """Wait until everything submitted by this process has been published."""
    if _coalescer is None:
        return True
    return _coalescer.idle.wait(timeout)
