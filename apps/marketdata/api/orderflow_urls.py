"""Order-flow and profile API routes (SPEC section 4)."""

from django.urls import path

from apps.marketdata.api import orderflow

urlpatterns = [
    path("orderflow/footprint", orderflow.FootprintView.as_view(), name="orderflow-footprint"),
    path("orderflow/cvd", orderflow.CvdView.as_view(), name="orderflow-cvd"),
    path(
        "volume-profile/<str:symbol>",
        orderflow.VolumeProfileView.as_view(),
        name="volume-profile",
    ),
    path(
        "market-profile/<str:symbol>",
        orderflow.MarketProfileView.as_view(),
        name="market-profile",
    ),
]
