"""Live fan-out: one Redis pub/sub subscription per server process, local delivery.

DESIGN: per-consumer ``group_send`` saturates; fan out with one Redis pub/sub
subscription per process and deliver locally. ``broadcast.py`` publishes each coalesced
message once, already encoded as the client-facing ``tick`` JSON, on the Redis channel of
its symbol (``channel_for``). In each process, one ``LiveHub`` per event loop holds one
pub/sub connection, subscribed to the symbols its consumers want. Each message is parsed
once and the same ``LiveEvent`` (parsed fields plus the original text) is handed to every
local consumer of the symbol: ``/ws/market/`` forwards the text as it is, so a message to
a thousand clients costs one decode and no per-client encode, queue or dispatch. Each
event is also framed once as a WebSocket text frame, which ``tradeflow.ws_direct`` writes
straight to each daphne connection's socket.

``add`` returns once Redis has confirmed the subscription, so a client told
"subscribed" cannot miss the next message. If the pub/sub connection breaks, the hub
reconnects and resubscribes; messages published meanwhile are lost and clients see a
``seq`` gap, which makes them re-sync through REST (SPEC section 5).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from functools import cache

import orjson
import redis.asyncio as aioredis
from django.conf import settings
from redis.asyncio.connection import parse_url
from redis.exceptions import RedisError

from tradeflow.ws_direct import text_frame

logger = logging.getLogger(__name__)
SUBSCRIBE_TIMEOUT_S = 5.0
RECONNECT_DELAY_S = 0.5


@cache
def _prefix(redis_url: str) -> str:
    # Pub/sub channels are server-wide, not per database: the database number keeps two
    # deployments (or test runs) sharing one Redis server apart.
    return f"tf:{parse_url(redis_url).get('db', 0)}:live:"


def channel_for(symbol: str) -> str:
    return _prefix(settings.REDIS_URL) + symbol.upper()


class LiveUnavailable(Exception):
    """Redis did not take the subscription (down, or too slow)."""


class LiveEvent:
    """One coalesced message: ``symbol``, ``seq``, ``data``, the JSON ``text`` as sent and
    the same as a WebSocket ``frame``."""

    __slots__ = ("data", "frame", "seq", "symbol", "text")

    def __init__(self, raw: bytes):
        message = orjson.loads(raw)
        self.symbol: str = message["symbol"]
        self.seq: int = message["seq"]
        self.data: dict = message["data"]
        self.text: str = raw.decode()
        self.frame: bytes = text_frame(raw)


class LiveHub:
    """Subscribers of this event loop, by symbol. Consumers implement
    ``async live_event(event: LiveEvent)``."""

    def __init__(self) -> None:
        self.subscribers: dict[str, set] = {}
        self.confirmed: dict[str, asyncio.Future] = {}
        self.client = aioredis.Redis.from_url(settings.REDIS_URL)
        self.pubsub = self.client.pubsub()
        self.reader: asyncio.Task | None = None

    async def add(self, symbol: str, consumer) -> None:
        """Deliver ``symbol``'s messages to ``consumer`` from now on; raises ``LiveUnavailable``
        when Redis does not confirm the subscription in time."""
        symbol = symbol.upper()  # as broadcast.py publishes it
        self.subscribers.setdefault(symbol, set()).add(consumer)
        channel = channel_for(symbol)
        try:
            confirmed = self.confirmed.get(channel)
            if confirmed is None:
                confirmed = self.confirmed[channel] = asyncio.get_running_loop().create_future()
                await self.pubsub.subscribe(channel)
                if self.reader is None or self.reader.done():
                    self.reader = asyncio.ensure_future(self._read())
            await asyncio.wait_for(asyncio.shield(confirmed), SUBSCRIBE_TIMEOUT_S)
        except (TimeoutError, RedisError, OSError) as exc:
            self.subscribers.get(symbol, set()).discard(consumer)
            self.confirmed.pop(channel, None)  # the next add subscribes again
            raise LiveUnavailable(f"live data for {symbol} is unavailable: {exc}") from exc

    async def discard(self, symbol: str, consumer) -> None:
        symbol = symbol.upper()
        subscribers = self.subscribers.get(symbol)
        if subscribers is None:
            return
        subscribers.discard(consumer)
        if subscribers:
            return
        del self.subscribers[symbol]
        channel = channel_for(symbol)
        self.confirmed.pop(channel, None)
        try:
            await self.pubsub.unsubscribe(channel)
        except RedisError:  # reconnecting resubscribes only what is still wanted
            logger.warning("live unsubscribe failed for %s", symbol, exc_info=True)
        if not self.subscribers:
            await self._close()

    async def _close(self) -> None:
        """Nobody listens in this loop any more: drop the connection and this hub."""
        _hubs.pop(asyncio.get_running_loop(), None)
        if self.reader is not None and self.reader is not asyncio.current_task():
            self.reader.cancel()
        await self.pubsub.aclose()
        await self.client.aclose()

    async def _read(self) -> None:
        while True:
            try:
                message = await self.pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, RuntimeError):
                logger.warning("live pub/sub connection lost; reconnecting", exc_info=True)
                await asyncio.sleep(RECONNECT_DELAY_S)
                continue
            if message is None:
                continue
            if message["type"] == "message":
                await self._deliver(message["data"])
            elif message["type"] == "subscribe":
                confirmed = self.confirmed.get(message["channel"].decode())
                if confirmed is not None and not confirmed.done():
                    confirmed.set_result(True)

    async def _deliver(self, raw: bytes) -> None:
        try:
            event = LiveEvent(raw)
        except (orjson.JSONDecodeError, KeyError, TypeError):
            logger.warning("ignoring a malformed live message: %r", raw[:200])
            return
        for consumer in list(self.subscribers.get(event.symbol, ())):
            try:
                await consumer.live_event(event)
            except Exception:  # one broken consumer must not starve the others
                logger.exception("live delivery to %r failed", consumer)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LiveHub] = weakref.WeakKeyDictionary()


def hub() -> LiveHub:
    """This event loop's hub (daphne runs one loop; tests may run one per test)."""
    loop = asyncio.get_running_loop()
    found = _hubs.get(loop)
    if found is None:
        found = _hubs[loop] = LiveHub()
    return found
