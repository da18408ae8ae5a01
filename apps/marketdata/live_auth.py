"""Authentication and the message protocol shared by the live WebSocket consumers
(/ws/market/, /ws/indicators/).

Browsers arrive with their session user (``tradeflow.ws_middleware``). Mobile clients send
``{"action": "auth", "token": JWT}`` as their first message within ``AUTH_TIMEOUT_S``; a
token in the URL is refused because URLs end up in logs. Anonymous clients may read public
symbols only when ``TRADEFLOW_ALLOW_ANONYMOUS_MARKET_DATA`` is on.
"""

from __future__ import annotations

import asyncio

from channels.db import database_sync_to_async
from django.conf import settings

AUTH_TIMEOUT_S = 5.0


@database_sync_to_async
def user_from_token(token: str):
    from rest_framework_simplejwt.authentication import JWTAuthentication
    from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

    auth = JWTAuthentication()
    try:
        return auth.get_user(auth.get_validated_token(token))
    except (InvalidToken, TokenError):
        return None


@database_sync_to_async
def visible_symbol(code: str, user):
    """The symbol ``code`` if it is active and ``user`` may stream it (public, or staff)."""
    from apps.marketdata.selectors import symbol_get

    symbol = symbol_get(code)
    if symbol is None or not symbol.is_active:
        return None
    staff = bool(user and user.is_authenticated and user.is_staff)
    return symbol if (symbol.is_public or staff) else None


class LiveAuthMixin:
    """For AsyncJsonWebsocketConsumer subclasses: call ``start_auth()`` after ``accept()``
    and ``stop_auth()`` on disconnect; check ``may_read()`` before serving data.

    ``receive_json`` speaks the protocol both consumers share (``ping``, ``auth``, then
    ``subscribe``/``unsubscribe`` once the client may read); the consumer handles those
    two in ``subscription_message`` and the token in ``_auth``.
    """

    auth_timer = None

    def start_auth(self) -> None:
        self.user = self.scope.get("user")
        if not self.authenticated() and not settings.ALLOW_ANONYMOUS_MARKET_DATA:
            self.auth_timer = asyncio.get_running_loop().call_later(
                AUTH_TIMEOUT_S, lambda: asyncio.ensure_future(self._auth_expired())
            )

    def stop_auth(self) -> None:
        if self.auth_timer:
            self.auth_timer.cancel()

    def authenticated(self) -> bool:
        return bool(self.user and self.user.is_authenticated and self.user.is_active)

    def may_read(self) -> bool:
        """Checked on every event; remembered per user object (the connection's user only
        changes on an ``auth`` message), which spares a lazy-object lookup per frame."""
        user = self.user
        if getattr(self, "_may_read_for", None) is not user or user is None:
            self._may_read_for = user
            self._may_read = self.authenticated() or settings.ALLOW_ANONYMOUS_MARKET_DATA
        return self._may_read

    async def receive_json(self, content, **kwargs):
        if not isinstance(content, dict):
            return await self.error("messages must be JSON objects", "invalid_message")
        action = content.get("action")
        if action == "ping":
            return await self.send_json({"type": "pong"})
        if action == "auth":
            return await self._auth(content.get("token"))
        if action in ("subscribe", "unsubscribe"):
            if not self.may_read():
                return await self.error("authenticate first", "not_authenticated")
            return await self.subscription_message(action, content)
        return await self.error(f"unknown action {action!r}", "invalid_action")

    async def subscription_message(self, action: str, content: dict):
        raise NotImplementedError

    async def error(self, message: str, code: str):
        await self.send_json({"type": "error", "message": message, "error_code": code})

    async def _auth_expired(self):
        if not self.authenticated():
            await self.error("authentication required within 5 s", "auth_timeout")
            await self.close(code=4401)

    async def authenticate_token(self, token):
        """Validate a JWT sent as a message; on failure say so and close the socket."""
        user = await user_from_token(token) if isinstance(token, str) else None
        if user is None or not user.is_active:
            await self.error("invalid or expired token", "invalid_token")
            await self.close(code=4401)
            return None
        self.user = user
        self.stop_auth()
        return user
