"""Workspaces, saved charts and drawings (SPEC section 9).

* A ``Workspace`` is a layout of 1-8 chart panes. ``layout_config`` is the exact state the
  browser restores: ``{"grid": 4, "active": 0, "panes": [{"symbol", "timeframe",
  "chart_type", "options", "indicators", "chart", "sync": {"symbol", "crosshair"}}]}``
  (normalised by ``apps.charts.layout``). ``chart`` is the id of the pane's ``SavedChart``.
* A ``SavedChart`` is one chart's state (symbol, timeframe, type, options, indicators) and
  the owner of drawings. Workspace panes mirror their state into it so that an idea
  (social) can embed a chart without knowing about workspaces. The standalone chart page
  ``/chart/<symbol>/`` keeps its state in a "scratch" chart, one per user and symbol
  (``scratch_key``; NULL for every other chart, so the unique index ignores them on
  MariaDB, which has no partial indexes).
* A ``Drawing`` belongs to a saved chart and a symbol (a pane that switches symbol shows the
  drawings made on the new symbol). ``version`` starts at 1 and grows by one per change;
  writes carry the version they were based on and stale ones are refused (409).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Workspace(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="workspaces"
    )
    name = models.CharField(max_length=100)
    layout_config = models.JSONField(default=dict, blank=True)
    is_default = models.BooleanField(default=False)
    is_public = models.BooleanField(default=False)
    forked_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="forks"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-is_default", "name", "id"]
        indexes = [models.Index(fields=["owner", "is_default"], name="charts_ws_owner_default")]

    def __str__(self) -> str:
        return f"{self.name} ({self.owner_id})"


class SavedChart(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_charts"
    )
    workspace = models.ForeignKey(
        Workspace, null=True, blank=True, on_delete=models.CASCADE, related_name="charts"
    )
    name = models.CharField(max_length=100, blank=True)
    symbol = models.CharField(max_length=48)
    timeframe = models.CharField(max_length=8, default="1m")
    chart_type = models.CharField(max_length=32, default="candles")
    options = models.JSONField(default=dict, blank=True)
    indicators = models.JSONField(default=list, blank=True)
    is_public = models.BooleanField(default=False)
    # The symbol code for the per-user scratch chart of /chart/<symbol>/, else NULL.
    scratch_key = models.CharField(max_length=48, null=True, blank=True)  # noqa: DJ001 - NULLs are distinct
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "scratch_key"], name="charts_uniq_scratch"),
        ]

    def __str__(self) -> str:
        return f"{self.name or self.symbol} {self.timeframe} ({self.owner_id})"


class DrawingKind(models.TextChoices):
    TREND_LINE = "trend_line", "Trend line"
    RAY = "ray", "Ray"
    HORIZONTAL_LINE = "horizontal_line", "Horizontal line"
    HORIZONTAL_RAY = "horizontal_ray", "Horizontal ray"
    VERTICAL_LINE = "vertical_line", "Vertical line"
    RECTANGLE = "rectangle", "Rectangle"
    PARALLEL_CHANNEL = "parallel_channel", "Parallel channel"
    FIB_RETRACEMENT = "fib_retracement", "Fibonacci retracement"
    FIB_EXTENSION = "fib_extension", "Fibonacci extension"
    TEXT = "text", "Text note"
    PRICE_RANGE = "price_range", "Price range"
    LONG_POSITION = "long_position", "Long position"
    SHORT_POSITION = "short_position", "Short position"


class Drawing(models.Model):
    chart = models.ForeignKey(SavedChart, on_delete=models.CASCADE, related_name="drawings")
    symbol = models.CharField(max_length=48)
    kind = models.CharField(max_length=32, choices=DrawingKind.choices)
    # [{"time": epoch s, "price": float}, ...]; how many depends on the kind.
    points = models.JSONField(default=list)
    style = models.JSONField(default=dict, blank=True)
    text = models.CharField(max_length=500, blank=True)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["chart", "symbol"], name="charts_drawing_chart_sym")]

    def __str__(self) -> str:
        return f"{self.kind} on {self.symbol} (chart {self.chart_id}, v{self.version})"


from apps.charts.custom_indicators import CustomIndicator  # noqa: F401, E402
