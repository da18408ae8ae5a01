from django.contrib import admin

from apps.charts.models import Drawing, SavedChart, Workspace


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "is_default", "is_public", "updated_at")
    list_filter = ("is_public", "is_default")
    search_fields = ("name", "owner__username", "owner__email")
    raw_id_fields = ("owner", "forked_from")


@admin.register(SavedChart)
class SavedChartAdmin(admin.ModelAdmin):
    list_display = ("id", "symbol", "timeframe", "chart_type", "owner", "workspace", "updated_at")
    list_filter = ("chart_type", "timeframe", "is_public")
    search_fields = ("symbol", "name", "owner__username")
    raw_id_fields = ("owner", "workspace")


@admin.register(Drawing)
class DrawingAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "symbol", "chart", "version", "updated_at")
    list_filter = ("kind",)
    raw_id_fields = ("chart",)
