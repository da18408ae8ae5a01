"""``/ws/market/``: live trades and bars (SPEC section 5).

Browsers authenticate with their session cookie; mobile clients send
``{"action": "auth", "token": JWT}`` as their first message within 5 seconds (a token in
the URL is refused: URLs end up in logs). Anonymous clients may subscribe to public
symbols only when ``TRADEFLOW_ALLOW_ANONYMOUS_MARKET_DATA`` is on.

Each subscription is checked when made (the symbol must exist, be active and be visible
to the caller); each event is checked against the connection's current subscriptions
and authentication before it is forwarded. Messages come from ``broadcast.py`` through
this process's ``live_hub``, already encoded: they are forwarded as they are, as
pre-built frames written straight to the socket under daphne (``tradeflow.ws_direct``).
"""

from __future__ import annotations

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from apps.marketdata.live_auth import LiveAuthMixin, visible_symbol
from apps.marketdata.live_hub import LiveEvent, LiveUnavailable, hub
from apps.marketdata.timeframes import TimeframeError
from apps.marketdata.timeframes import parse as parse_timeframe
from tradeflow.ws_direct import direct_sender

MAX_SUBSCRIPTIONS = 50


class MarketConsumer(LiveAuthMixin, AsyncJsonWebsocketConsumer):
    # No channel layer: everything arrives through live_hub, so a connection needs no
    # channel of its own (with the pub/sub layer, each would cost a Redis SUBSCRIBE).
    channel_layer_alias = None

    async def connect(self):
        self.subscriptions: dict[str, dict] = {}  # symbol -> {"timeframe", "bucket"}
        await self.accept()
        self.direct = direct_sender(self.base_send)  # None unless daphne over plain TCP
        self.start_auth()

    async def disconnect(self, code):
        self.stop_auth()
        for symbol in list(self.subscriptions):
            await hub().discard(symbol, self)
        self.subscriptions.clear()

    async def subscription_message(self, action: str, content: dict):
        symbols = content.get("symbols")
        if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
            return await self.error("'symbols' must be a list of strings", "invalid_message")
        if action == "unsubscribe":
            return await self._unsubscribe(symbols)
        return await self._subscribe(symbols, content.get("timeframe", "1m"))

    async def _auth(self, token):
        user = await self.authenticate_token(token)
        if user is not None:
            await self.send_json({"type": "authenticated", "user": user.username})

    async def _subscribe(self, symbols: list[str], timeframe):
        try:
            tf = parse_timeframe(timeframe)
        except TimeframeError as exc:
            return await self.error(str(exc), "invalid_timeframe")
        accepted = []
        for code in symbols[:MAX_SUBSCRIPTIONS]:
            row = await visible_symbol(code, self.user)
            if row is None:
                await self.error(f"unknown symbol {code}", "unknown_symbol")
                continue
            symbol = row.symbol
            if symbol not in self.subscriptions and len(self.subscriptions) >= MAX_SUBSCRIPTIONS:
                await self.error("too many subscriptions", "too_many_subscriptions")
                break
            try:
                await hub().add(symbol, self)
            except LiveUnavailable as exc:
                await self.error(f"{exc}; retry shortly", "live_unavailable")
                break
            self.subscriptions[symbol] = {"timeframe": tf, "bucket": None}
            accepted.append(symbol)
        if accepted:
            await self.send_json({"type": "subscribed", "symbols": accepted, "timeframe": tf.name})

    async def _unsubscribe(self, symbols: list[str]):
        removed = []
        for code in symbols:
            code = code.strip().upper()
            if self.subscriptions.pop(code, None) is not None:
                await hub().discard(code, self)
                removed.append(code)
        await self.send_json({"type": "unsubscribed", "symbols": removed})

    async def live_event(self, event: LiveEvent):
        """A coalesced broadcast for one symbol: forward it, and announce bar closes."""
        symbol = event.symbol
        sub = self.subscriptions.get(symbol)
        if sub is None or not self.may_read():
            return
        summary = event.data.get("summary")
        if summary and not sub["timeframe"].is_session:
            size = sub["timeframe"].seconds * 1000
            bucket = summary["last"] // size * size
            previous = sub["bucket"]
            if previous is not None and bucket > previous:
                # the bar that was current when the last message came is now closed
                await self.send_json(
                    {
                        "type": "bar",
                        "symbol": symbol,
                        "timeframe": sub["timeframe"].name,
                        "data": {"time": previous // 1000, "closed": True},
                    }
                )
            sub["bucket"] = bucket if previous is None else max(previous, bucket)
        if self.direct is None or not self.direct.send(event.frame):
            await self.base_send({"type": "websocket.send", "text": event.text})
