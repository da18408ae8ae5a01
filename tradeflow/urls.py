from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.accounts import views as account_views
from tradeflow.health import health

urlpatterns = [
    path("", account_views.home, name="home"),
    path("health", health, name="health"),
    path("accounts/", include("apps.accounts.urls")),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include("apps.accounts.api.urls")),
    path("api/v1/", include("apps.marketdata.api.urls")),
    path("api/v1/", include("apps.charts.api.urls")),
    path("", include("apps.charts.urls")),
]
