"""Indicator API routes (SPEC section 4), and the custom-indicator (formula) CRUD.

The custom-indicator views belong to the charts app (which owns the model) but are routed
here so that the indicator endpoints live under one include; ``apps.charts.api.urls``
belongs to the workspace API.
"""

from django.urls import include, path

from apps.marketdata.api import indicators

urlpatterns = [
    path("indicators/catalog", indicators.CatalogView.as_view(), name="indicator-catalog"),
    path("indicators/current", indicators.CurrentView.as_view(), name="indicator-current"),
    path("indicators/history", indicators.HistoryView.as_view(), name="indicator-history"),
    path("indicators/at-offset", indicators.AtOffsetView.as_view(), name="indicator-at-offset"),
    path("indicators/batch", indicators.BatchView.as_view(), name="indicator-batch"),
    path("indicators/subscribe", indicators.SubscribeView.as_view(), name="indicator-subscribe"),
    path(
        "indicators/unsubscribe",
        indicators.UnsubscribeView.as_view(),
        name="indicator-unsubscribe",
    ),
    path("", include("apps.charts.api.custom_indicators")),
]
