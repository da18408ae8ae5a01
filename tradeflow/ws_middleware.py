"""The WebSocket middleware stack: Channels' ``AuthMiddlewareStack`` with a read-only
session.

Channels' ``SessionMiddleware`` wraps ``send`` to save a modified session on every
outgoing message. The live consumers only read the session (to find the user), and the
wrapper's check on each frame is a real cost in a 1,000-client fan-out (``ws_fanout``
benchmark), so this stack resolves the session the same way and passes ``send`` through.
"""

from __future__ import annotations

from channels.auth import AuthMiddleware
from channels.sessions import CookieMiddleware, InstanceSessionWrapper, SessionMiddleware


class ReadOnlySessionMiddleware(SessionMiddleware):
    """``scope["session"]`` from the session cookie; never saved from a WebSocket."""

    async def __call__(self, scope, receive, send):
        wrapper = InstanceSessionWrapper(scope, send)
        await wrapper.resolve_session()
        return await self.inner(wrapper.scope, receive, send)


def WebSocketAuthStack(inner):  # named like Channels
    return CookieMiddleware(ReadOnlySessionMiddleware(AuthMiddleware(inner)))
