"""ASGI entry point: HTTP through Django, WebSockets through Channels.

``get_asgi_application()`` must run before anything imports models (Channels sample).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradeflow.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from tradeflow.routing import websocket_urlpatterns  # noqa: E402
from tradeflow.ws_middleware import WebSocketAuthStack  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            WebSocketAuthStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
