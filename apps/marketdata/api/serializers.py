from rest_framework import serializers

from apps.marketdata.models import Symbol


class SymbolSerializer(serializers.ModelSerializer):
    tick_size = serializers.FloatField()
    precision = serializers.IntegerField(read_only=True)
    session = serializers.SerializerMethodField()

    class Meta:
        model = Symbol
        fields = [
            "symbol",
            "name",
            "exchange",
            "asset_type",
            "tick_size",
            "precision",
            "timezone",
            "session",
            "is_simulated",
        ]

    def get_session(self, obj) -> str:
        return f"{obj.session_start:%H:%M}-{obj.session_end:%H:%M}"
