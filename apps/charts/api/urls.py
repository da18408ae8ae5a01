"""Workspace/chart/drawing API routes (DRF, for mobile and the chart page)."""

from django.urls import path

from apps.charts.api.views import DrawingViewSet, SavedChartViewSet, WorkspaceViewSet

collection = {"get": "list", "post": "create"}
item = {"get": "retrieve", "put": "update", "patch": "partial_update", "delete": "destroy"}

urlpatterns = [
    path("workspaces/", WorkspaceViewSet.as_view(collection), name="workspace-list"),
    path("workspaces/<int:pk>/", WorkspaceViewSet.as_view(item), name="workspace-detail"),
    path(
        "workspaces/<int:pk>/fork/",
        WorkspaceViewSet.as_view({"post": "fork"}),
        name="workspace-fork",
    ),
    path("charts/", SavedChartViewSet.as_view(collection), name="savedchart-list"),
    path("charts/<int:pk>/", SavedChartViewSet.as_view(item), name="savedchart-detail"),
    path(
        "charts/<int:chart_pk>/drawings/",
        DrawingViewSet.as_view(collection),
        name="drawing-list",
    ),
    path(
        "charts/<int:chart_pk>/drawings/<int:pk>/",
        DrawingViewSet.as_view(item),
        name="drawing-detail",
    ),
]
