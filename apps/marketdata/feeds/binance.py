"""Binance public trade stream client: trades -> per-symbol TickBatches.

Connects to ``{url}/stream?streams=btcusdt@trade/ethusdt@trade`` (combined streams; each
message is ``{"stream": "btcusdt@trade", "data": {...}}``), where a trade is::

    {"e": "trade", "E": event_ms, "s": "BTCUSDT", "t": trade_id, "p": "61837.63000000",
     "q": "0.02000000", "T": trade_ms, "m": is_buyer_maker, ...}

``m`` True means the buyer was the resting maker, so the aggressor SOLD.

Trades are buffered per symbol and handed to ``on_batch(symbol, batch)`` when a symbol has
``max_batch`` trades or its oldest buffered trade is ``flush_interval`` seconds old. The
client reconnects with exponential backoff and jitter (Binance also drops every
connection after 24 h), skips trade ids it has already delivered (ids grow per symbol), so
an overlapping replay after a reconnect is delivered once, and stops cleanly on
``stop()``, on cancellation, after ``max_messages`` trades or after ``stop_after`` seconds.

The URL is configurable so tests run against a local fake server; nothing here needs
Django. The management command / worker that runs it wires ``on_batch`` to the ingest path.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from apps.marketdata.ticks import BUY, SELL, TickBatch

from .errors import FeedFormatError

try:  # orjson is a project dependency; the stdlib parser is the fallback
    from orjson import loads as _loads
except ImportError:  # pragma: no cover
    _loads = json.loads

log = logging.getLogger(__name__)

DEFAULT_URL = "wss://stream.binance.com:9443"
MAX_STREAMS_PER_CONNECTION = 1024  # Binance's limit for one combined-stream connection


class BinanceTrade(NamedTuple):
    symbol: str
    ts_ns: int
    price: float
    size: float
    side: int  # BUY or SELL (the aggressor)
    trade_id: str


def parse_trade_message(obj: dict[str, Any]) -> BinanceTrade | None:
    """One decoded message -> ``BinanceTrade``; ``None`` for other events (subscription
    replies, other stream types). Accepts the combined-stream wrapper or the bare payload.
    A trade with missing/ill-typed fields raises ``FeedFormatError``."""
    if not isinstance(obj, dict):
        raise FeedFormatError(f"expected a JSON object, got {type(obj).__name__}")
    data = obj.get("data") if "stream" in obj else obj
    if not isinstance(data, dict) or data.get("e") != "trade":
        return None
    try:
        maker = data["m"]
        if not isinstance(maker, bool):
            raise TypeError(f"'m' must be a boolean, got {maker!r}")
        symbol = data["s"]
        if not isinstance(symbol, str) or not symbol:
            raise TypeError(f"'s' must be a symbol string, got {symbol!r}")
        ts_ms = data["T"]
        if isinstance(ts_ms, bool) or not isinstance(ts_ms, int):
            raise TypeError(f"'T' must be integer milliseconds, got {ts_ms!r}")
        trade_id = data["t"]
        if isinstance(trade_id, bool) or not isinstance(trade_id, int):
            raise TypeError(f"'t' must be an integer trade id, got {trade_id!r}")
        price = float(data["p"])
        size = float(data["q"])
    except KeyError as exc:
        raise FeedFormatError(f"trade message without {exc.args[0]!r}: {data!r}") from None
    except (TypeError, ValueError) as exc:
        raise FeedFormatError(f"bad trade message ({exc}): {data!r}") from None
    return BinanceTrade(
        symbol.upper(), ts_ms * 1_000_000, price, size, SELL if maker else BUY, str(trade_id)
    )


def stream_url(url: str, symbols: Iterable[str], stream: str = "trade") -> str:
    """``{url}/stream?streams=btcusdt@trade/...`` (Binance wants lower-case names)."""
    names = [f"{s.strip().lower()}@{stream}" for s in symbols]
    if not names:
        raise ValueError("no symbols to subscribe to")
    if len(names) > MAX_STREAMS_PER_CONNECTION:
        raise ValueError(f"at most {MAX_STREAMS_PER_CONNECTION} streams per connection")
    return f"{url.rstrip('/')}/stream?streams={'/'.join(names)}"


@dataclass
class StreamStats:
    connections: int = 0  # successful handshakes
    reconnects: int = 0  # waits before a new connection attempt
    messages: int = 0  # frames received
    trades: int = 0  # trades delivered (after duplicate skipping)
    duplicates: int = 0  # trades skipped because their id was already delivered
    bad_messages: int = 0  # undecodable or malformed frames (logged, skipped)
    batches: int = 0  # on_batch calls
    last_error: str = ""


@dataclass
class _Buffer:
    ts_ns: list[int] = field(default_factory=list)
    price: list[float] = field(default_factory=list)
    size: list[float] = field(default_factory=list)
    side: list[int] = field(default_factory=list)
    trade_id: list[str] = field(default_factory=list)
    first_at: float = 0.0  # loop time of the oldest buffered trade

    def add(self, trade: BinanceTrade, now: float) -> None:
        if not self.ts_ns:
            self.first_at = now
        self.ts_ns.append(trade.ts_ns)
        self.price.append(trade.price)
        self.size.append(trade.size)
        self.side.append(trade.side)
        self.trade_id.append(trade.trade_id)

    def __len__(self) -> int:
        return len(self.ts_ns)

    def drain(self) -> TickBatch:
        ids = np.empty(len(self.trade_id), dtype=object)
        ids[:] = self.trade_id
        batch = TickBatch(
            ts_ns=np.array(self.ts_ns, dtype=np.int64),
            price=np.array(self.price, dtype=np.float64),
            size=np.array(self.size, dtype=np.float64),
            side=np.array(self.side, dtype=np.int8),
            trade_id=ids,
        )
        self.ts_ns, self.price, self.size, self.side, self.trade_id = [], [], [], [], []
        return batch


OnBatch = Callable[[str, TickBatch], Any]  # may return an awaitable


class BinanceTradeStream:
    """Async client for the Binance trade stream. ``await stream.run()`` returns its
    ``StreamStats`` when stopped; cancelling the task closes the connection, delivers what
    is buffered and re-raises ``CancelledError``.

    ``on_batch(symbol, batch)`` may be a plain function or a coroutine function; an
    exception from it stops the stream and propagates (a bug there must not turn into a
    reconnect loop). ``connect_kwargs`` go to ``websockets.asyncio.client.connect``.
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        symbols: Iterable[str] = ("BTCUSDT",),
        on_batch: OnBatch | None = None,
        flush_interval: float = 0.1,
        max_batch: int = 1000,
        *,
        max_messages: int | None = None,
        stop_after: float | None = None,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        max_reconnects: int | None = None,
        skip_duplicates: bool = True,
        connect_kwargs: dict[str, Any] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if on_batch is None:
            raise ValueError("on_batch is required")
        if flush_interval <= 0 or max_batch <= 0:
            raise ValueError("flush_interval and max_batch must be positive")
        self.symbols = [s.strip().upper() for s in symbols]
        self.url = stream_url(url, self.symbols)
        self.on_batch = on_batch
        self.flush_interval = flush_interval
        self.max_batch = max_batch
        self.max_messages = max_messages
        self.stop_after = stop_after
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.max_reconnects = max_reconnects
        self.skip_duplicates = skip_duplicates
        self.connect_kwargs = {"open_timeout": 10, "ping_interval": 20, **(connect_kwargs or {})}
        self.stats = StreamStats()
        self._rng = rng or random.Random()
        self._buffers: dict[str, _Buffer] = {}
        self._last_id: dict[str, int] = {}
        self._stop = asyncio.Event()
        self._deadline: float | None = None

    # -- control

    def stop(self) -> None:
        """Ask ``run()`` to deliver what it has and return (within ``flush_interval``).
        Call it on the event loop's thread (``loop.call_soon_threadsafe(stream.stop)``
        from another thread)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set() or self._expired()

    def _expired(self) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline

    def backoff_delay(self, attempt: int) -> float:
        """Exponential backoff with "equal jitter": half fixed, half random."""
        ceiling = min(self.backoff_max, self.backoff_initial * 2**attempt)
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    # -- main loop

    async def run(self) -> StreamStats:
        self._deadline = None if self.stop_after is None else time.monotonic() + self.stop_after
        attempt = 0
        try:
            while not self.stopping:
                received_before = self.stats.messages
                try:
                    async with connect(self.url, **self.connect_kwargs) as ws:
                        self.stats.connections += 1
                        log.info("binance: connected to %s", self.url)
                        await self._consume(ws)
                except InvalidURI:
                    raise
                except (ConnectionClosed, InvalidHandshake, OSError, TimeoutError) as exc:
                    self.stats.last_error = f"{type(exc).__name__}: {exc}"
                    log.warning("binance: connection lost: %s", self.stats.last_error)
                await self._flush_all()
                if self.stopping:
                    break
                if self.stats.messages > received_before:
                    attempt = 0  # the connection worked; start the backoff over
                if self.max_reconnects is not None and self.stats.reconnects >= self.max_reconnects:
                    raise ConnectionError(
                        f"gave up after {self.stats.reconnects} reconnects: {self.stats.last_error}"
                    )
                delay = self.backoff_delay(attempt)
                attempt += 1
                self.stats.reconnects += 1
                log.info("binance: reconnecting in %.2fs", delay)
                await self._sleep(delay)
        except asyncio.CancelledError:
            await self._flush_all()
            raise
        await self._flush_all()
        return self.stats

    async def _sleep(self, delay: float) -> None:
        if self._deadline is not None:
            delay = min(delay, max(0.0, self._deadline - time.monotonic()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), delay)

    async def _consume(self, ws) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if self.stopping:
                return
            # Wake up for the next due flush, to notice stop(), and at the deadline.
            wait = self.flush_interval
            if self._buffers:
                oldest = min((b.first_at for b in self._buffers.values() if len(b)), default=None)
                if oldest is not None:
                    wait = max(0.0, oldest + self.flush_interval - loop.time())
            if self._deadline is not None:
                wait = min(wait, max(0.0, self._deadline - time.monotonic()))
            try:
                async with asyncio.timeout(wait):
                    raw = await ws.recv(decode=False)
            except TimeoutError:
                await self._flush_due(loop.time())
                continue
            self.stats.messages += 1
            self._handle(raw, loop.time())
            await self._flush_due(loop.time())
            if self.max_messages is not None and self.stats.trades >= self.max_messages:
                self._stop.set()

    def _handle(self, raw: bytes | str, now: float) -> None:
        try:
            trade = parse_trade_message(_loads(raw))
        except (ValueError, FeedFormatError) as exc:  # JSONDecodeError is a ValueError
            self.stats.bad_messages += 1
            log.warning("binance: skipping bad message: %s", exc)
            return
        if trade is None:
            return
        if self.skip_duplicates:
            number = int(trade.trade_id)
            if number <= self._last_id.get(trade.symbol, -1):
                self.stats.duplicates += 1
                return
            self._last_id[trade.symbol] = number
        if self.max_messages is not None and self.stats.trades >= self.max_messages:
            return
        self.stats.trades += 1
        self._buffers.setdefault(trade.symbol, _Buffer()).add(trade, now)

    # -- delivery

    async def _flush_due(self, now: float) -> None:
        for symbol, buf in list(self._buffers.items()):
            if len(buf) and (
                len(buf) >= self.max_batch or now - buf.first_at >= self.flush_interval
            ):
                await self._deliver(symbol, buf)

    async def _flush_all(self) -> None:
        for symbol, buf in list(self._buffers.items()):
            if len(buf):
                await self._deliver(symbol, buf)

    async def _deliver(self, symbol: str, buf: _Buffer) -> None:
        batch = buf.drain()
        self.stats.batches += 1
        result = self.on_batch(symbol, batch)
        if inspect.isawaitable(result):
            await result
