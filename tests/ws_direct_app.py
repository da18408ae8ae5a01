"""The daphne app of ``test_ws_direct``: the product's WebSocket stack (origin check,
read-only session, auth) around one probe consumer that sends through
``tradeflow.ws_direct``. Run as ``daphne tests.ws_direct_app:application``."""

import os
from pathlib import Path

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradeflow.settings")
get_asgi_application()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path  # noqa: E402

from tradeflow.ws_direct import direct_sender, text_frame  # noqa: E402
from tradeflow.ws_middleware import WebSocketAuthStack  # noqa: E402

BIG = 16 * 1024 * 1024  # more than a loopback socket takes in one send()


class Probe(AsyncWebsocketConsumer):
    async def connect(self):
        await self.accept()
        self.direct = direct_sender(self.base_send)
        await self.send(text_data="direct" if self.direct is not None else "asgi")

    async def receive(self, text_data=None, bytes_data=None):
        if text_data == "burst":
            # direct, ASGI, direct: the second direct frame must wait behind the rest of
            # the first, which the socket could not take at once, and behind the ASGI one
            sent = self.direct.send(text_frame(b"x" * BIG))
            await self.send(text_data=f"asgi-after:{sent}")
            self.direct.send(text_frame(b"direct-after"))
        elif text_data == "close":
            await self.close()
            late = self.direct.send(text_frame(b"late"))
            Path(os.environ["WS_DIRECT_REPORT"]).write_text(f"after close: {late}")


application = AllowedHostsOriginValidator(
    WebSocketAuthStack(URLRouter([path("probe/", Probe.as_asgi())]))
)
