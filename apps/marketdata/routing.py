"""WebSocket routes served by the market-data app."""

from django.urls import path

from apps.marketdata.consumers import MarketConsumer
from apps.marketdata.indicator_consumers import IndicatorConsumer

websocket_urlpatterns = [
    path("ws/market/", MarketConsumer.as_asgi()),
    path("ws/indicators/", IndicatorConsumer.as_asgi()),
]
