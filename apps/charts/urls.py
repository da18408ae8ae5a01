"""Chart pages and workspace HTML routes."""

from django.urls import path

from apps.charts import views

app_name = "charts"
urlpatterns = [
    path("chart/", views.chart_home, name="chart_home"),
    path("chart/<str:symbol>/", views.chart_page, name="chart"),
    path("charts/symbols/", views.symbol_search, name="symbol_search"),
    path("charts/preferences/", views.preferences, name="preferences"),
    path("workspaces/", views.workspace_list, name="workspace_list"),
    path("workspaces/<int:pk>/", views.workspace_page, name="workspace"),
    path("workspaces/<int:pk>/rename/", views.workspace_rename, name="workspace_rename"),
    path("workspaces/<int:pk>/duplicate/", views.workspace_duplicate, name="workspace_duplicate"),
    path("workspaces/<int:pk>/delete/", views.workspace_delete, name="workspace_delete"),
    path("workspaces/<int:pk>/default/", views.workspace_make_default, name="workspace_default"),
    path("workspaces/<int:pk>/share/", views.workspace_share, name="workspace_share"),
    path("workspaces/<int:pk>/fork/", views.workspace_fork, name="workspace_fork"),
]
