"""All WebSocket routes, collected from the apps that serve live data."""

from apps.marketdata.routing import websocket_urlpatterns as marketdata_ws

websocket_urlpatterns = [*marketdata_ws]
