from django.urls import include, path

from apps.marketdata.api import ingest, query, views

urlpatterns = [
    path("symbols/", views.SymbolListView.as_view(), name="symbol-list"),
    path("market-data/", ingest.SierraBarView.as_view(), name="ingest-sierra-bar"),
    path("market-data/batch", ingest.SierraBatchView.as_view(), name="ingest-sierra-batch"),
    path("market-data/ticks", ingest.TicksView.as_view(), name="ingest-ticks"),
    path("market-data/<str:symbol>", query.BarsView.as_view(), name="market-data-bars"),
    path("", include("apps.marketdata.api.indicator_urls")),
    path("", include("apps.marketdata.api.orderflow_urls")),
]
