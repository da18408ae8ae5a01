"""Custom-indicator API: CRUD for the owner, read-only sharing by link.

* ``/api/v1/custom-indicators/``                   list (own), create
* ``/api/v1/custom-indicators/<id>/``              read, update, delete (own; 404 otherwise)
* ``/api/v1/custom-indicators/<id>/rotate-token/`` POST: new share link, old one dies
* ``/api/v1/custom-indicators/shared/<token>``     a public formula, for anyone with the link

A saved formula is used as the spec ``CUSTOM_<id>`` (``spec`` in every response) by the
indicator endpoints and ``/ws/indicators/``. Formulas that do not compile are refused with
``400 {"error": {"code": "INVALID_FORMULA", "message", "position", "line", "col",
"field": "formula"}}``; ``position`` is the 0-based offset of the offending token.

Routed from ``apps/marketdata/api/indicator_urls.py`` (see there why).
"""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import RetrieveAPIView
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from apps.accounts.api.errors import ApiError
from apps.charts.custom_indicators import (
    CustomIndicator,
    custom_indicator_create,
    custom_indicator_list,
    custom_indicator_rotate_token,
    custom_indicator_shared,
    custom_indicator_update,
)
from apps.marketdata.analytics.indicators import FormulaError, compile_formula

SHARED_PATH = "/api/v1/custom-indicators/shared/"


def _compile(text: str):
    try:
        return compile_formula(text)
    except FormulaError as exc:
        raise ApiError(
            status_code=400,
            code=exc.code,
            message=exc.message,
            field="formula",
            position=exc.position,
            line=exc.line,
            col=exc.col,
        ) from None


class CustomIndicatorSerializer(serializers.ModelSerializer):
    spec = serializers.CharField(source="spec_id", read_only=True)
    # no max_length here: compile_formula reports "too long" with its position
    formula = serializers.CharField(trim_whitespace=False)
    share_url = serializers.SerializerMethodField()
    warmup_bars = serializers.SerializerMethodField()
    functions = serializers.SerializerMethodField()

    class Meta:
        model = CustomIndicator
        fields = [
            "id",
            "spec",
            "name",
            "formula",
            "description",
            "overlay",
            "is_public",
            "share_token",
            "share_url",
            "warmup_bars",
            "functions",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "share_token", "created_at", "updated_at"]

    def get_share_url(self, obj) -> str | None:
        return f"{SHARED_PATH}{obj.share_token}" if obj.is_public else None

    def get_warmup_bars(self, obj) -> int:
        return _compile(obj.formula).warmup_bars

    def get_functions(self, obj) -> list[str]:
        return sorted(_compile(obj.formula).functions)

    def validate_formula(self, value: str) -> str:
        _compile(value)
        return value

    def validate_name(self, value: str) -> str:
        value = value.strip()
        owner = self.context["request"].user
        taken = custom_indicator_list(owner=owner).filter(name=value)
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise serializers.ValidationError("you already have a custom indicator of that name")
        return value


class SharedCustomIndicatorSerializer(serializers.ModelSerializer):
    spec = serializers.CharField(source="spec_id", read_only=True)
    owner = serializers.CharField(source="owner.username", read_only=True)

    class Meta:
        model = CustomIndicator
        fields = ["id", "spec", "name", "formula", "description", "overlay", "owner"]
        read_only_fields = fields


_FORMULA_ERROR = OpenApiExample(
    "formula error",
    value={
        "error": {
            "code": "INVALID_FORMULA",
            "message": "attribute access ('.') is not allowed",
            "field": "formula",
            "position": 0,
            "line": 1,
            "col": 1,
        }
    },
    response_only=True,
    status_codes=["400"],
)


@extend_schema_view(
    create=extend_schema(examples=[_FORMULA_ERROR]),
    update=extend_schema(examples=[_FORMULA_ERROR]),
    partial_update=extend_schema(examples=[_FORMULA_ERROR]),
)
class CustomIndicatorViewSet(viewsets.ModelViewSet):
    """The caller's own formulas; anybody else's are 404 here (public ones are read
    through their share link)."""

    serializer_class = CustomIndicatorSerializer
    permission_classes = [permissions.IsAuthenticated]
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return custom_indicator_list(owner=self.request.user)

    def get_object(self):
        # raised here rather than as Http404 so the error has the one shape
        indicator = self.get_queryset().filter(pk=self.kwargs["pk"]).first()
        if indicator is None:
            raise ApiError(status_code=404, code="not_found", message="no such custom indicator")
        self.check_object_permissions(self.request, indicator)
        return indicator

    def perform_create(self, serializer):
        serializer.instance = custom_indicator_create(
            owner=self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer):
        serializer.instance = custom_indicator_update(
            serializer.instance, **serializer.validated_data
        )

    @extend_schema(request=None, responses=CustomIndicatorSerializer)
    @action(detail=True, methods=["post"], url_path="rotate-token")
    def rotate_token(self, request, pk=None):
        indicator = custom_indicator_rotate_token(self.get_object())
        return Response(self.get_serializer(indicator).data, status=status.HTTP_200_OK)


class SharedCustomIndicatorView(RetrieveAPIView):
    """A public formula by its share token: anyone with the link may read (and then use
    its ``spec``); private ones and wrong tokens are 404."""

    serializer_class = SharedCustomIndicatorSerializer
    permission_classes = [permissions.AllowAny]

    def get_object(self):
        indicator = custom_indicator_shared(self.kwargs["token"])
        if indicator is None:
            raise ApiError(status_code=404, code="not_found", message="no such shared indicator")
        return indicator


router = SimpleRouter()
router.register("custom-indicators", CustomIndicatorViewSet, basename="custom-indicator")

urlpatterns = [
    path(
        "custom-indicators/shared/<str:token>",
        SharedCustomIndicatorView.as_view(),
        name="custom-indicator-shared",
    ),
    *router.urls,
]
