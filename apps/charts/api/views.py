"""``/api/v1/workspaces/``, ``/api/v1/charts/`` and ``/api/v1/charts/<id>/drawings/``.

Used by mobile clients (JWT) and by the chart page (session + CSRF). Every queryset is
filtered to what the caller may see: their own objects, plus public ones read-only.
Others' private objects answer 404; writes to others' public ones answer 403.
Errors use the one error body: ``tier_limit`` (403), ``version_conflict`` (409, with the
stored drawing), ``invalid`` (400, per field).
"""

from __future__ import annotations

from contextlib import contextmanager

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.accounts.api.errors import ApiError
from apps.charts import selectors, services
from apps.charts.api.serializers import (
    DrawingCreateInput,
    DrawingOutput,
    DrawingUpdateInput,
    SavedChartInput,
    SavedChartOutput,
    WorkspaceCreateInput,
    WorkspaceOutput,
    WorkspaceUpdateInput,
)
from apps.charts.models import Drawing, SavedChart, Workspace
from apps.charts.services import TierLimitError, VersionConflict


class ReadPublicOrAuthenticated(permissions.BasePermission):
    """Writes need a signed-in user; reads of public objects are open to anonymous
    visitors only when the operator allows anonymous market data."""

    def has_permission(self, request, view):
        if request.user and request.user.is_authenticated:
            return True
        return request.method in permissions.SAFE_METHODS and settings.ALLOW_ANONYMOUS_MARKET_DATA


class IsOwnerForWrites(permissions.BasePermission):
    message = "this object is read-only for you"

    def has_object_permission(self, request, view, obj):
        if request.method in permissions.SAFE_METHODS:
            return True
        owner_id = obj.chart.owner_id if isinstance(obj, Drawing) else obj.owner_id
        return owner_id == request.user.id


def _fields(exc: ValidationError) -> dict:
    if hasattr(exc, "error_dict"):
        return {k: [str(m) for m in v] for k, v in exc.message_dict.items()}
    return {"non_field_errors": exc.messages}


@contextmanager
def service_errors():
    """Service exceptions -> the API's error bodies."""
    try:
        yield
    except TierLimitError as exc:
        raise ApiError(
            status_code=403,
            code="tier_limit",
            message=exc.message,
            limit=exc.limit_name,
            value=exc.limit,
        ) from None
    except VersionConflict as exc:
        current = DrawingOutput(exc.current).data if exc.current is not None else None
        raise ApiError(
            status_code=409,
            code="version_conflict",
            message="The drawing was changed elsewhere; reload it and try again.",
            current=current,
        ) from None
    except ValidationError as exc:
        raise ApiError(
            status_code=400,
            code="invalid",
            message="; ".join(exc.messages),
            fields=_fields(exc),
        ) from None


class NotFoundAs404:
    """``get_object`` raising the API's 404 body. (The shared exception handler in
    apps/accounts/api/errors.py fails on Django's ``Http404``, which DRF's
    ``get_object`` raises; this keeps these views independent of that.)"""

    def get_object(self):
        try:
            return super().get_object()
        except Http404:
            raise ApiError(status_code=404, code="not_found", message="not found") from None


def _valid(serializer_class, data, **kwargs):
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class WorkspaceViewSet(NotFoundAs404, viewsets.GenericViewSet):
    """Workspaces: the caller's own (read/write) and public ones (read, fork)."""

    permission_classes = [ReadPublicOrAuthenticated, IsOwnerForWrites]
    serializer_class = WorkspaceOutput
    queryset = Workspace.objects.none()

    def get_queryset(self):
        user = self.request.user
        if self.action == "list":
            return selectors.workspace_list(user=user) if user.is_authenticated else []
        visible = Workspace.objects.filter(is_public=True)
        if user.is_authenticated:
            visible = visible | Workspace.objects.filter(owner=user)
        return visible.select_related("owner")

    def _out(self, workspace, code=status.HTTP_200_OK):
        return Response(WorkspaceOutput(workspace, context={"request": self.request}).data, code)

    def list(self, request):
        page = WorkspaceOutput(self.get_queryset(), many=True, context={"request": request})
        return Response(page.data)

    @extend_schema(request=WorkspaceCreateInput, responses={201: WorkspaceOutput})
    def create(self, request):
        data = _valid(WorkspaceCreateInput, request.data)
        with service_errors():
            workspace = services.workspace_create(
                owner=request.user,
                name=data["name"],
                layout_config=data.get("layout_config"),
                is_public=data["is_public"],
                make_default=data["is_default"],
            )
        return self._out(workspace, status.HTTP_201_CREATED)

    def retrieve(self, request, pk=None):
        return self._out(self.get_object())

    @extend_schema(request=WorkspaceUpdateInput, responses={200: WorkspaceOutput})
    def partial_update(self, request, pk=None):
        workspace = self.get_object()
        data = _valid(WorkspaceUpdateInput, request.data)
        with service_errors():
            if "layout_config" in data:
                services.workspace_update_layout(
                    workspace=workspace, layout_config=data["layout_config"]
                )
            if "name" in data or "is_public" in data:
                services.workspace_update(
                    workspace=workspace, name=data.get("name"), is_public=data.get("is_public")
                )
            if data.get("is_default"):
                services.workspace_set_default(workspace=workspace)
        return self._out(workspace)

    @extend_schema(request=WorkspaceUpdateInput, responses={200: WorkspaceOutput})
    def update(self, request, pk=None):
        return self.partial_update(request, pk)

    def destroy(self, request, pk=None):
        services.workspace_delete(workspace=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    def get_permissions(self):
        if self.action == "fork":  # anyone signed in may fork what they can see
            return [permissions.IsAuthenticated()]
        return super().get_permissions()

    @extend_schema(request=None, responses={201: WorkspaceOutput})
    @action(detail=True, methods=["post"])
    def fork(self, request, pk=None):
        """Copy a public (or own) workspace, its charts and drawings, to the caller."""
        workspace = self.get_object()
        with service_errors():
            fork = services.workspace_fork(workspace=workspace, user=request.user)
        return self._out(fork, status.HTTP_201_CREATED)


class SavedChartViewSet(NotFoundAs404, viewsets.GenericViewSet):
    """Saved charts: the caller's own, plus public ones and those of public workspaces."""

    permission_classes = [ReadPublicOrAuthenticated, IsOwnerForWrites]
    serializer_class = SavedChartOutput
    queryset = SavedChart.objects.none()

    def get_queryset(self):
        user = self.request.user
        if self.action == "list":
            return selectors.savedchart_list(user=user) if user.is_authenticated else []
        visible = SavedChart.objects.filter(is_public=True) | SavedChart.objects.filter(
            workspace__is_public=True
        )
        if user.is_authenticated:
            visible = visible | SavedChart.objects.filter(owner=user)
        return visible.distinct()

    def _out(self, chart, code=status.HTTP_200_OK):
        return Response(SavedChartOutput(chart, context={"request": self.request}).data, code)

    def list(self, request):
        qs = self.get_queryset()
        workspace = request.query_params.get("workspace")
        if workspace and workspace.isdigit() and request.user.is_authenticated:
            qs = qs.filter(workspace_id=int(workspace))
        return Response(SavedChartOutput(qs[:500], many=True, context={"request": request}).data)

    @extend_schema(request=SavedChartInput, responses={201: SavedChartOutput})
    def create(self, request):
        data = dict(_valid(SavedChartInput, request.data))
        name, public = data.pop("name", ""), data.pop("is_public", False)
        with service_errors():
            chart = services.savedchart_create(
                owner=request.user, state=data, name=name, is_public=public
            )
        return self._out(chart, status.HTTP_201_CREATED)

    def retrieve(self, request, pk=None):
        return self._out(self.get_object())

    @extend_schema(request=SavedChartInput, responses={200: SavedChartOutput})
    def partial_update(self, request, pk=None):
        chart = self.get_object()
        data = dict(_valid(SavedChartInput, request.data))
        name, public = data.pop("name", None), data.pop("is_public", None)
        with service_errors():
            services.savedchart_update(chart=chart, state=data or None, name=name, is_public=public)
        return self._out(chart)

    @extend_schema(request=SavedChartInput, responses={200: SavedChartOutput})
    def update(self, request, pk=None):
        return self.partial_update(request, pk)

    def destroy(self, request, pk=None):
        services.savedchart_delete(chart=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class DrawingViewSet(NotFoundAs404, viewsets.GenericViewSet):
    """Drawings of one saved chart; updates and deletes carry the version they saw."""

    permission_classes = [ReadPublicOrAuthenticated, IsOwnerForWrites]
    serializer_class = DrawingOutput
    queryset = Drawing.objects.none()

    def chart(self) -> SavedChart:
        if not hasattr(self, "_chart"):
            chart = selectors.savedchart_get_visible(
                user=self.request.user, pk=self.kwargs["chart_pk"]
            )
            if chart is None:
                raise ApiError(status_code=404, code="not_found", message="no such chart")
            self._chart = chart
        return self._chart

    def get_queryset(self):
        return Drawing.objects.filter(chart=self.chart()).select_related("chart")

    def _check_write(self):
        if self.chart().owner_id != self.request.user.id:
            raise ApiError(status_code=403, code="read_only", message="this chart is read-only")

    def list(self, request, chart_pk=None):
        qs = selectors.drawing_list(chart=self.chart(), symbol=request.query_params.get("symbol"))
        return Response(DrawingOutput(qs, many=True).data)

    @extend_schema(request=DrawingCreateInput, responses={201: DrawingOutput})
    def create(self, request, chart_pk=None):
        self._check_write()
        data = dict(_valid(DrawingCreateInput, request.data))
        symbol = data.pop("symbol", None)
        with service_errors():
            drawing = services.drawing_create(chart=self.chart(), symbol=symbol, data=data)
        return Response(DrawingOutput(drawing).data, status=status.HTTP_201_CREATED)

    def retrieve(self, request, chart_pk=None, pk=None):
        return Response(DrawingOutput(self.get_object()).data)

    @extend_schema(request=DrawingUpdateInput, responses={200: DrawingOutput, 409: None})
    def partial_update(self, request, chart_pk=None, pk=None):
        drawing = self.get_object()
        data = dict(_valid(DrawingUpdateInput, request.data))
        version = data.pop("version")
        with service_errors():
            drawing = services.drawing_update(drawing=drawing, data=data, version=version)
        return Response(DrawingOutput(drawing).data)

    @extend_schema(request=DrawingUpdateInput, responses={200: DrawingOutput, 409: None})
    def update(self, request, chart_pk=None, pk=None):
        return self.partial_update(request, chart_pk, pk)

    def destroy(self, request, chart_pk=None, pk=None):
        drawing = self.get_object()
        raw = request.query_params.get("version")
        if raw is not None and not raw.isdigit():
            raise ApiError(status_code=400, code="invalid", message="version must be an integer")
        with service_errors():
            services.drawing_delete(drawing=drawing, version=int(raw) if raw else None)
        return Response(status=status.HTTP_204_NO_CONTENT)
