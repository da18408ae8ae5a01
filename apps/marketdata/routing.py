"""WebSocket routes served by the market-data app."""

from django.urls import path

from apps.marketdata.consumers import MarketConsumer

websocket_urlpatterns = [
    path("ws/market/", MarketConsumer.as_asgi()),
]
