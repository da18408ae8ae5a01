from django.conf import settings
from rest_framework import generics, permissions

from apps.marketdata.api.serializers import SymbolSerializer
from apps.marketdata.selectors import symbol_list


class MarketDataReadPermission(permissions.BasePermission):
    """Signed-in users (session or JWT) read market data; anonymous clients only when the
    operator allows it (TRADEFLOW_ALLOW_ANONYMOUS_MARKET_DATA), and then public symbols only."""

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated) or (
            settings.ALLOW_ANONYMOUS_MARKET_DATA
        )


class SymbolListView(generics.ListAPIView):
    """Search the symbol catalogue: ``GET /api/v1/symbols/?search=ES``."""

    serializer_class = SymbolSerializer
    permission_classes = [MarketDataReadPermission]

    def get_queryset(self):
        qs = symbol_list(search=self.request.query_params.get("search", "").strip()[:32])
        if not (self.request.user.is_authenticated and self.request.user.is_staff):
            qs = qs.filter(is_public=True)
        return qs[:50]
