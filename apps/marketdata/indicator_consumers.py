"""``/ws/indicators/``: live indicator values (SPEC section 5, reference/003 contract).

Client -> server::

    {"action": "auth", "token": JWT}                  (mobile; browsers use the session)
    {"action": "subscribe", "symbol": "BTCUSDT", "timeframe": "1m",
     "indicators": ["RSI_14", {"name": "MACD", "params": {"fast": 12}}, "CUSTOM_7"]}
    {"action": "unsubscribe", "symbol": "BTCUSDT", "timeframe": "1m",
     "indicators": ["RSI_14"]}                        (omit "indicators" for all)
    {"action": "ping"}

Server -> client: ``{"type": "success", "message", "data"}`` (welcome with the
``client_id``, subscribe/unsubscribe confirmations with initial values and subscriber
counts), ``{"type": "indicator_update", "symbol", "timeframe", "indicator_id", "value",
"timestamp", "candle_time", "time", "closed", "seq"}`` (plus ``"values"`` by output name for
multi-output indicators), ``{"type": "pong"}`` and ``{"type": "error", "message",
"error_code"}``.

Updates are event-driven, not timed: the consumer listens to the symbol through
this process's ``live_hub``, and every coalesced tick message (at most one per 100 ms per
symbol) recomputes the tail of each subscribed series once per process
(``streams.TailEngine``). An update is sent for every bar the message touched (the current
one at least) and once more, with ``"closed": true``, for the bar that was current until a
new one started. If computing falls behind, pending messages merge and only the newest state
is computed, so a slow client never queues stale work.

Authentication follows ``/ws/market/``: session user, or ``{"action": "auth"}`` within 5 s;
anonymous clients only when ``TRADEFLOW_ALLOW_ANONYMOUS_MARKET_DATA`` is on. Every event is
checked against the connection's current authentication before it is forwarded.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref
from datetime import UTC, datetime

import numpy as np
import orjson
import redis.asyncio as aioredis
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from apps.marketdata.analytics.indicators import FormulaError, InvalidIndicator
from apps.marketdata.indicators import service, streams
from apps.marketdata.live_auth import LiveAuthMixin, visible_symbol
from apps.marketdata.live_hub import LiveEvent, LiveUnavailable, hub
from apps.marketdata.timeframes import TimeframeError
from apps.marketdata.timeframes import parse as parse_timeframe

logger = logging.getLogger(__name__)
MAX_SPECS_PER_CONNECTION = 200

_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _aredis() -> aioredis.Redis:
    """One asyncio Redis client per event loop (a client is bound to its loop), with an
    explicit pool cap (DESIGN: redis-py's async pool raises when exhausted)."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        pool = aioredis.BlockingConnectionPool.from_url(
            settings.REDIS_URL, max_connections=50, timeout=5
        )
        client = _clients[loop] = aioredis.Redis(connection_pool=pool)
    return client


def _iso(epoch: int | float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def _num(value) -> float | None:
    value = float(value)
    return None if np.isnan(value) else value


@database_sync_to_async
def _resolve(values: list, user) -> list:
    return service.resolve_items(values, user)


@database_sync_to_async
def _initial(symbol, tf, items) -> list:
    return service.series(symbol, tf, [(item, 1) for item in items])


class _Sub:
    __slots__ = ("items", "last_time", "symbol", "tf")

    def __init__(self, symbol, tf) -> None:
        self.symbol = symbol
        self.tf = tf
        self.items: dict[str, object] = {}
        self.last_time: int | None = None


class IndicatorConsumer(LiveAuthMixin, AsyncJsonWebsocketConsumer):
    @classmethod
    async def encode_json(cls, content):
        return orjson.dumps(content).decode()  # NaN -> null, unlike the stdlib

    async def connect(self):
        self.client_id = uuid.uuid4().hex
        self.subs: dict[tuple[str, str], _Sub] = {}
        self.pending: dict[str, dict] = {}
        self.workers: dict[str, asyncio.Task] = {}
        self.tasks: set[asyncio.Task] = set()
        await self.accept()
        self.start_auth()
        await self._register_client()
        self.renewer = asyncio.ensure_future(self._renew_leases())
        await self.success(
            f"Connected to indicator stream (client: {self.client_id})",
            {"timestamp": _iso(datetime.now(UTC).timestamp()), "client_id": self.client_id},
        )

    # --- auth -------------------------------------------------------------------------------

    def _owner(self) -> str:
        return str(self.user.pk) if self.authenticated() else "anon"

    async def _auth(self, token):
        user = await self.authenticate_token(token)
        if user is None:
            return
        await self._register_client()
        await self.success(f"Authenticated as {user.username}", {"user": user.username})

    # --- replies ----------------------------------------------------------------------------

    async def success(self, message: str, data: dict):
        await self.send_json({"type": "success", "message": message, "data": data})

    # --- lifecycle --------------------------------------------------------------------------

    def _background(self, coro) -> None:
        """Run ``coro`` without awaiting it, keeping a reference (the event loop holds
        tasks weakly) and logging its failure."""
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)

        def done(t):
            self.tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                logger.warning("indicator background task failed", exc_info=t.exception())

        task.add_done_callback(done)

    async def _register_client(self):
        pipe = _aredis().pipeline(transaction=False)
        streams.queue_register_client(
            pipe, self.client_id, self._owner(), self.channel_name, streams.WS_LEASE_S
        )
        await pipe.execute()

    async def _renew_leases(self):
        """Keep this connection's subscriptions alive in Redis (they lapse if the process
        dies); not an update timer."""
        while True:
            await asyncio.sleep(streams.WS_RENEW_S)
            try:
                pipe = _aredis().pipeline(transaction=False)
                streams.queue_register_client(
                    pipe, self.client_id, self._owner(), self.channel_name, streams.WS_LEASE_S
                )
                for (symbol, tf), sub in self.subs.items():
                    streams.queue_subscribe(
                        pipe, self.client_id, symbol, tf, sub.items, streams.WS_LEASE_S
                    )
                await pipe.execute()
            except Exception:
                logger.warning("indicator lease renewal failed", exc_info=True)

    async def disconnect(self, code):
        self.stop_auth()
        renewer = getattr(self, "renewer", None)
        if renewer:
            renewer.cancel()
        for task in [*self.workers.values(), *self.tasks]:
            task.cancel()
        subs = [(s, tf, sid) for (s, tf), sub in self.subs.items() for sid in sub.items]
        for symbol in {s for s, _ in self.subs}:
            await hub().discard(symbol, self)
        for (symbol, tf), sub in self.subs.items():
            streams.engine.remove(symbol, tf, list(sub.items))
        self.subs.clear()
        try:
            pipe = _aredis().pipeline(transaction=False)
            streams.queue_drop_client(pipe, self.client_id, subs)
            await pipe.execute()
        except Exception:  # the leases expire anyway
            logger.warning("indicator subscription cleanup failed", exc_info=True)

    # --- client messages --------------------------------------------------------------------

    async def subscription_message(self, action: str, content: dict):
        if action == "subscribe":
            return await self._subscribe(content)
        return await self._unsubscribe(content)

    async def _target(self, content: dict):
        """(symbol row, timeframe) of a message, or None after sending the error."""
        code = content.get("symbol")
        if not isinstance(code, str) or not code.strip():
            await self.error("'symbol' must be a symbol code", "invalid_message")
            return None
        try:
            tf = parse_timeframe(content.get("timeframe", "1m"))
        except TimeframeError as exc:
            await self.error(str(exc), "invalid_timeframe")
            return None
        symbol = await visible_symbol(code, self.user)
        if symbol is None:
            await self.error(f"unknown symbol {code}", "unknown_symbol")
            return None
        return symbol, tf

    async def _subscribe(self, content: dict):
        indicators = content.get("indicators")
        if not isinstance(indicators, list) or not indicators:
            return await self.error(
                "'indicators' must be a non-empty list of specs such as \"RSI_14\"",
                "invalid_message",
            )
        target = await self._target(content)
        if target is None:
            return
        await self.add_subscriptions(*target, indicators)

    async def add_subscriptions(self, symbol, tf, indicators: list):
        try:
            items = await _resolve(indicators, self.user)
        except (InvalidIndicator, FormulaError) as exc:
            return await self.error(exc.message, exc.code)
        except service.IndicatorNotFound as exc:
            return await self.error(exc.message, "not_found")
        key = (symbol.symbol, tf.name)
        sub = self.subs.get(key)
        new = list({i.id: i for i in items if sub is None or i.id not in sub.items}.values())
        total = sum(len(s.items) for s in self.subs.values()) + len(new)
        if total > MAX_SPECS_PER_CONNECTION:
            return await self.error(
                f"at most {MAX_SPECS_PER_CONNECTION} indicators per connection",
                "too_many_subscriptions",
            )
        try:
            initial = await _initial(symbol, tf, items)
        except (InvalidIndicator, FormulaError) as exc:
            return await self.error(exc.message, exc.code)
        if sub is None:
            if not any(s == symbol.symbol for s, _ in self.subs):
                try:
                    await hub().add(symbol.symbol, self)
                except LiveUnavailable as exc:
                    return await self.error(f"{exc}; retry shortly", "live_unavailable")
            sub = self.subs[key] = _Sub(symbol, tf)
        streams.engine.add(symbol, tf, new)
        if new:  # read the bars the stream needs now rather than on the first tick
            self._background(streams.engine.prime(symbol.symbol, tf.name))
        for item in items:
            sub.items[item.id] = item
        ids = list(dict.fromkeys(i.id for i in items))
        pipe = _aredis().pipeline(transaction=False)
        streams.queue_subscribe(pipe, self.client_id, *key, ids, streams.WS_LEASE_S)
        counts = streams.subscribe_result(await pipe.execute(), ids)
        values, candle = {}, None
        for payload in initial:
            points = payload.points()
            values[payload.item.id] = points[-1]["value"] if points else None
            if points:
                candle = points[-1]["time"]
        if candle is not None:
            sub.last_time = candle if sub.last_time is None else max(sub.last_time, candle)
        await self.success(
            f"Subscribed to {len(ids)} indicators",
            {
                "symbol": symbol.symbol,
                "timeframe": tf.name,
                "subscriptions": ids,
                "initial_values": values,
                "subscriber_counts": counts,
                "candle_time": None if candle is None else _iso(candle),
            },
        )

    async def _unsubscribe(self, content: dict):
        code = content.get("symbol")
        try:
            tf = parse_timeframe(content.get("timeframe", "1m"))
        except TimeframeError as exc:
            return await self.error(str(exc), "invalid_timeframe")
        # subscriptions are keyed by the bare code ("ES:CME" subscribed as "ES")
        symbol = code.split(":")[0].strip().upper() if isinstance(code, str) else ""
        indicators = content.get("indicators")
        if indicators is not None and not isinstance(indicators, list):
            return await self.error("'indicators' must be a list", "invalid_message")
        try:
            ids = None if indicators is None else [service.canonical_id(v) for v in indicators]
        except InvalidIndicator as exc:
            return await self.error(exc.message, exc.code)
        await self.remove_subscriptions(symbol, tf.name, ids)

    async def remove_subscriptions(self, symbol: str, tf: str, ids: list[str] | None):
        sub = self.subs.get((symbol, tf))
        wanted = list(sub.items) if sub is not None and ids is None else ids or []
        removed = [] if sub is None else [i for i in dict.fromkeys(wanted) if i in sub.items]
        for spec_id in removed:
            del sub.items[spec_id]
        streams.engine.remove(symbol, tf, removed)
        if sub is not None and not sub.items:
            del self.subs[(symbol, tf)]
            if not any(s == symbol for s, _ in self.subs):
                await hub().discard(symbol, self)
        counts = {}
        if removed:
            pipe = _aredis().pipeline(transaction=False)
            streams.queue_unsubscribe(pipe, self.client_id, symbol, tf, removed)
            counts = streams.unsubscribe_result(await pipe.execute(), removed)
        await self.success(
            f"Unsubscribed from {len(removed)} indicators",
            {
                "symbol": symbol,
                "timeframe": tf,
                "unsubscribed": removed,
                "subscriber_counts": counts,
            },
        )

    # --- REST-initiated changes (``POST /api/v1/indicators/subscribe`` with client_id) ------

    async def indicators_attach(self, event):
        target = await self._target(event)
        if target is not None:
            await self.add_subscriptions(*target, event["indicators"])

    async def indicators_detach(self, event):
        await self.remove_subscriptions(event["symbol"], event["timeframe"], event["indicators"])

    # --- broadcasts -------------------------------------------------------------------------

    async def live_event(self, event: LiveEvent):
        """A coalesced broadcast for one symbol (``live_hub``): merge it into the pending
        work and make sure a worker computes it (never more than one per symbol at a time)."""
        symbol = event.symbol
        if not any(s == symbol for s, _ in self.subs) or not self.may_read():
            return
        streams.engine.note(symbol, event.seq, event.data)
        pending = self.pending.setdefault(symbol, {"seq": event.seq, "data": []})
        pending["seq"] = max(pending["seq"], event.seq)
        pending["data"].append(event.data)
        worker = self.workers.get(symbol)
        if worker is None or worker.done():
            self.workers[symbol] = asyncio.ensure_future(self._drain(symbol))

    async def _drain(self, symbol: str):
        while symbol in self.pending:
            pending = self.pending.pop(symbol)
            for (code, tf), sub in list(self.subs.items()):
                if code != symbol:
                    continue
                try:
                    tail = await streams.engine.tail(code, tf, pending["seq"])
                except Exception:
                    logger.exception("indicator recompute failed for %s %s", code, tf)
                    continue
                if tail is not None and self.may_read():
                    await self._send_updates(sub, tail, pending["data"])

    async def _send_updates(self, sub: _Sub, tail: streams.Tail, datas: list[dict]):
        times = tail.times
        n = len(times)
        if not n:
            return
        indexes: set[int] = {n - 1}
        for data in datas:
            indexes |= streams.touched_indexes(times, data)
        newest = int(times[-1])
        if sub.last_time is not None and newest > sub.last_time:
            previous = int(np.searchsorted(times, sub.last_time))
            if previous < n and int(times[previous]) == sub.last_time:
                indexes.add(previous)  # its final value, now that it has closed
        sub.last_time = newest if sub.last_time is None else max(sub.last_time, newest)
        now = _iso(datetime.now(UTC).timestamp())
        for i in sorted(indexes):
            candle = int(times[i])
            for spec_id in list(sub.items):
                outputs = tail.values.get(spec_id)
                if outputs is None:
                    continue  # subscribed after this tail was computed: next message
                values = {name: _num(v[i]) for name, v in outputs.items()}
                message = {
                    "type": "indicator_update",
                    "symbol": sub.symbol.symbol,
                    "timeframe": sub.tf.name,
                    "indicator_id": spec_id,
                    "value": next(iter(values.values())),
                    "timestamp": now,
                    "candle_time": _iso(candle),
                    "time": candle,
                    "closed": i < n - 1,
                    "seq": tail.seq,
                }
                if len(values) > 1:
                    message["values"] = values
                await self.send_json(message)
