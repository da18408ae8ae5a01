"""WebSocket routes served by the market-data app (live ticks, indicator stream)."""

websocket_urlpatterns: list = []
