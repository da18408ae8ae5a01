"""Input and output shapes of the workspace/chart/drawing API.

Inputs are only shape-checked here; the real validation (layout, limits, symbols) is in
``apps.charts.layout`` and the services, so the HTML pages and the API agree.
"""

from __future__ import annotations

from rest_framework import serializers

from apps.charts.models import Drawing, DrawingKind, SavedChart, Workspace


class WorkspaceOutput(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)
    read_only = serializers.SerializerMethodField()

    class Meta:
        model = Workspace
        fields = [
            "id",
            "name",
            "owner",
            "layout_config",
            "is_default",
            "is_public",
            "forked_from",
            "read_only",
            "created_at",
            "updated_at",
        ]

    def get_read_only(self, obj) -> bool:
        request = self.context.get("request")
        return not (request and request.user.is_authenticated and obj.owner_id == request.user.id)


class WorkspaceCreateInput(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    layout_config = serializers.JSONField(required=False)
    is_public = serializers.BooleanField(required=False, default=False)
    is_default = serializers.BooleanField(required=False, default=False)


class WorkspaceUpdateInput(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    layout_config = serializers.JSONField(required=False)
    is_public = serializers.BooleanField(required=False)
    is_default = serializers.BooleanField(required=False)


class SavedChartOutput(serializers.ModelSerializer):
    read_only = serializers.SerializerMethodField()

    class Meta:
        model = SavedChart
        fields = [
            "id",
            "name",
            "symbol",
            "timeframe",
            "chart_type",
            "options",
            "indicators",
            "workspace",
            "is_public",
            "read_only",
            "created_at",
            "updated_at",
        ]

    def get_read_only(self, obj) -> bool:
        request = self.context.get("request")
        return not (request and request.user.is_authenticated and obj.owner_id == request.user.id)


class SavedChartInput(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    symbol = serializers.CharField(max_length=48, required=False)
    timeframe = serializers.CharField(max_length=8, required=False)
    chart_type = serializers.CharField(max_length=32, required=False)
    options = serializers.JSONField(required=False)
    indicators = serializers.JSONField(required=False)
    is_public = serializers.BooleanField(required=False)


class DrawingOutput(serializers.ModelSerializer):
    class Meta:
        model = Drawing
        fields = [
            "id",
            "chart",
            "symbol",
            "kind",
            "points",
            "style",
            "text",
            "version",
            "created_at",
            "updated_at",
        ]


class DrawingCreateInput(serializers.Serializer):
    symbol = serializers.CharField(max_length=48, required=False)
    kind = serializers.ChoiceField(choices=DrawingKind.choices)
    points = serializers.JSONField()
    style = serializers.JSONField(required=False)
    text = serializers.CharField(max_length=500, required=False, allow_blank=True)


class DrawingUpdateInput(serializers.Serializer):
    version = serializers.IntegerField(min_value=1)
    points = serializers.JSONField(required=False)
    style = serializers.JSONField(required=False)
    text = serializers.CharField(max_length=500, required=False, allow_blank=True)
