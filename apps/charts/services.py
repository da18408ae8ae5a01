"""Writes for workspaces, saved charts and drawings (``<entity>_<action>(*, ...)``).

Tier limits (``settings.TIER_LIMITS``) are enforced here, so pages, the JSON API and any
future caller hit the same rule and the same message (``TierLimitError``). Drawings use
optimistic concurrency: an update names the version it was based on and a conditional
UPDATE refuses stale ones (``VersionConflict`` -> 409), so two devices editing the same
drawing never silently overwrite each other.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.charts import layout as L
from apps.charts.layout import TierLimitError
from apps.charts.models import Drawing, SavedChart, Workspace
from apps.charts.selectors import (
    symbol_first_visible,
    symbol_visible,
    tier_limits,
    workspace_count,
)

__all__ = ["TierLimitError", "VersionConflict"]

MAX_DRAWINGS_PER_CHART = 2000
MAX_ORPHAN_CHARTS = 8
DEFAULT_WORKSPACE_NAME = "My workspace"


class VersionConflict(Exception):
    """The drawing changed since the caller read it; ``current`` is what is stored now."""

    def __init__(self, current: Drawing | None):
        super().__init__("the drawing was changed elsewhere; reload it")
        self.current = current


def _check_symbols(*, user, state: dict, field: str = "symbol") -> None:
    if symbol_visible(user=user, code=state["symbol"]) is None:
        raise ValidationError({field: f"unknown symbol {state['symbol']}"})


def _pane_state(symbol: str, timeframe: str = "1m", chart_type: str = "candles") -> dict:
    return {
        "symbol": symbol,
        "timeframe": timeframe,
        "chart_type": chart_type,
        "options": {},
        "indicators": [],
        "chart": None,
        "sync": {"symbol": None, "crosshair": None},
    }


def default_layout(
    *, user, symbol: str | None = None, timeframe: str = "1m", grid: int = 1
) -> dict:
    if symbol is None:
        first = symbol_first_visible(user=user)
        if first is None:
            raise ValidationError({"symbol": "there are no symbols to chart yet"})
        symbol = first.symbol
    return {
        "grid": grid,
        "active": 0,
        "panes": [_pane_state(symbol, timeframe) for _ in range(grid)],
    }


def _mirror(chart: SavedChart, state: dict) -> None:
    chart.symbol = state["symbol"]
    chart.timeframe = state["timeframe"]
    chart.chart_type = state["chart_type"]
    chart.options = state["options"]
    chart.indicators = state["indicators"]


def _clean_layout_for(user, layout_config) -> dict:
    limits = tier_limits(user)
    cleaned = L.clean_layout(
        layout_config,
        pane_limit=limits["charts_per_layout"],
        indicator_limit=limits["indicators_per_chart"],
    )
    for i, pane in enumerate(cleaned["panes"]):
        _check_symbols(user=user, state=pane, field=f"layout_config.panes[{i}].symbol")
    return cleaned


def _attach_charts(workspace: Workspace, cleaned: dict) -> dict:
    """Give every pane a saved chart of this workspace and mirror the pane state into it.

    A pane keeps its chart when the id names a chart of this workspace; panes without one
    reuse charts that earlier, larger grids left unreferenced (so shrinking the grid and
    growing it again brings the drawings back), then new charts are made.
    """
    owned = {c.id: c for c in SavedChart.objects.filter(workspace=workspace)}
    used: set[int] = set()
    for pane in cleaned["panes"]:
        if pane["chart"] in owned and pane["chart"] not in used:
            used.add(pane["chart"])
        else:
            pane["chart"] = None
    spare = [cid for cid in sorted(owned) if cid not in used]
    for pane in cleaned["panes"]:
        if pane["chart"] is None:
            if spare:
                pane["chart"] = spare.pop(0)
            else:
                chart = SavedChart.objects.create(
                    owner=workspace.owner, workspace=workspace, symbol=pane["symbol"]
                )
                owned[chart.id] = chart
                pane["chart"] = chart.id
        chart = owned[pane["chart"]]
        _mirror(chart, pane)
        chart.save()
    for cid in spare[: max(0, len(spare) - MAX_ORPHAN_CHARTS)]:
        owned[cid].delete()
    return cleaned


def _check_workspace_quota(user) -> None:
    limit = tier_limits(user)["saved_workspaces"]
    if workspace_count(user=user) >= limit:
        raise TierLimitError(
            "saved_workspaces",
            limit,
            f"Your plan allows {limit} saved workspace{'s' if limit != 1 else ''}.",
        )


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "give the workspace a name"})
    if len(name) > 100:
        raise ValidationError({"name": "at most 100 characters"})
    return name


@transaction.atomic
def workspace_create(
    *,
    owner,
    name: str,
    layout_config: dict | None = None,
    is_public: bool = False,
    make_default: bool = False,
    forked_from: Workspace | None = None,
) -> Workspace:
    name = _clean_name(name)
    _check_workspace_quota(owner)
    cleaned = _clean_layout_for(owner, layout_config or default_layout(user=owner))
    first = not Workspace.objects.filter(owner=owner).exists()
    workspace = Workspace.objects.create(
        owner=owner,
        name=name,
        is_public=is_public,
        is_default=first or make_default,
        forked_from=forked_from,
    )
    if workspace.is_default and not first:
        Workspace.objects.filter(owner=owner).exclude(pk=workspace.pk).update(is_default=False)
    workspace.layout_config = _attach_charts(workspace, cleaned)
    workspace.save(update_fields=["layout_config"])
    return workspace


@transaction.atomic
def workspace_create_from_chart(*, owner, name: str, chart: SavedChart) -> Workspace:
    """Save the chart page's chart (state and drawings) as a new one-pane workspace."""
    pane = _pane_state(chart.symbol, chart.timeframe, chart.chart_type)
    pane.update(options=chart.options, indicators=chart.indicators)
    workspace = workspace_create(
        owner=owner, name=name, layout_config={"grid": 1, "active": 0, "panes": [pane]}
    )
    target = SavedChart.objects.get(pk=workspace.layout_config["panes"][0]["chart"])
    Drawing.objects.bulk_create(
        Drawing(
            chart=target, symbol=d.symbol, kind=d.kind, points=d.points, style=d.style, text=d.text
        )
        for d in chart.drawings.all()
    )
    return workspace


@transaction.atomic
def workspace_update_layout(*, workspace: Workspace, layout_config) -> Workspace:
    cleaned = _clean_layout_for(workspace.owner, layout_config)
    workspace.layout_config = _attach_charts(workspace, cleaned)
    workspace.save(update_fields=["layout_config", "updated_at"])
    return workspace


def workspace_update(
    *, workspace: Workspace, name: str | None = None, is_public: bool | None = None
) -> Workspace:
    fields = ["updated_at"]
    if name is not None:
        workspace.name = _clean_name(name)
        fields.append("name")
    if is_public is not None:
        workspace.is_public = bool(is_public)
        fields.append("is_public")
    workspace.save(update_fields=fields)
    return workspace


@transaction.atomic
def workspace_set_default(*, workspace: Workspace) -> Workspace:
    Workspace.objects.filter(owner=workspace.owner).exclude(pk=workspace.pk).update(
        is_default=False
    )
    workspace.is_default = True
    workspace.save(update_fields=["is_default", "updated_at"])
    return workspace


@transaction.atomic
def workspace_delete(*, workspace: Workspace) -> None:
    owner, was_default = workspace.owner, workspace.is_default
    workspace.delete()  # cascades to its charts and their drawings
    if was_default:
        successor = Workspace.objects.filter(owner=owner).order_by("id").first()
        if successor is not None:
            successor.is_default = True
            successor.save(update_fields=["is_default"])


def _copy_charts(source: Workspace, target: Workspace, layout_config: dict) -> dict:
    """Copy the source's pane charts (state and drawings) into ``target``."""
    panes = []
    for pane in layout_config.get("panes", []):
        pane = dict(pane)
        original = SavedChart.objects.filter(workspace=source, pk=pane.get("chart")).first()
        pane["chart"] = None
        if original is not None:
            copy = SavedChart.objects.create(
                owner=target.owner,
                workspace=target,
                name=original.name,
                symbol=original.symbol,
                timeframe=original.timeframe,
                chart_type=original.chart_type,
                options=original.options,
                indicators=original.indicators,
            )
            Drawing.objects.bulk_create(
                Drawing(
                    chart=copy,
                    symbol=d.symbol,
                    kind=d.kind,
                    points=d.points,
                    style=d.style,
                    text=d.text,
                )
                for d in original.drawings.all()
            )
            pane["chart"] = copy.id
        panes.append(pane)
    return {**layout_config, "panes": panes}


@transaction.atomic
def workspace_duplicate(*, workspace: Workspace, owner, name: str | None = None) -> Workspace:
    """A copy for ``owner`` (the owner's duplicate, or anyone's fork of a public one)."""
    _check_workspace_quota(owner)
    suffix = " (copy)" if owner == workspace.owner else " (fork)"
    new_name = _clean_name(name or (workspace.name[: 100 - len(suffix)] + suffix))
    cleaned = _clean_layout_for(owner, workspace.layout_config)
    copy = Workspace.objects.create(
        owner=owner,
        name=new_name,
        is_default=not Workspace.objects.filter(owner=owner).exists(),
        forked_from=workspace if owner != workspace.owner else None,
    )
    copy.layout_config = _attach_charts(copy, _copy_charts(workspace, copy, cleaned))
    copy.save(update_fields=["layout_config"])
    return copy


def workspace_fork(*, workspace: Workspace, user) -> Workspace:
    if not workspace.is_public and workspace.owner != user:
        raise Workspace.DoesNotExist
    return workspace_duplicate(workspace=workspace, owner=user)


@transaction.atomic
def workspace_default_get_or_create(*, user) -> Workspace:
    workspace = Workspace.objects.select_for_update().filter(owner=user, is_default=True).first()
    if workspace is not None:
        return workspace
    existing = Workspace.objects.filter(owner=user).order_by("id").first()
    if existing is not None:
        return workspace_set_default(workspace=existing)
    return workspace_create(owner=user, name=DEFAULT_WORKSPACE_NAME, make_default=True)


# --- saved charts -----------------------------------------------------------------------


def _clean_chart_state(user, state) -> dict:
    cleaned = L.clean_chart_state(state, indicator_limit=tier_limits(user)["indicators_per_chart"])
    _check_symbols(user=user, state=cleaned)
    return cleaned


@transaction.atomic
def savedchart_create(*, owner, state: dict, name: str = "", is_public: bool = False):
    cleaned = _clean_chart_state(owner, state)
    chart = SavedChart(owner=owner, name=(name or "")[:100], is_public=bool(is_public))
    _mirror(chart, cleaned)
    chart.save()
    return chart


def savedchart_update(
    *,
    chart: SavedChart,
    state: dict | None = None,
    name: str | None = None,
    is_public: bool | None = None,
) -> SavedChart:
    if state is not None:
        merged = {
            "symbol": chart.symbol,
            "timeframe": chart.timeframe,
            "chart_type": chart.chart_type,
            "options": chart.options,
            "indicators": chart.indicators,
            **state,
        }
        cleaned = _clean_chart_state(chart.owner, merged)
        if chart.scratch_key and cleaned["symbol"] != chart.scratch_key:
            raise ValidationError({"symbol": "this chart belongs to " + chart.scratch_key})
        _mirror(chart, cleaned)
    if name is not None:
        chart.name = name.strip()[:100]
    if is_public is not None:
        chart.is_public = bool(is_public)
    chart.save()
    return chart


def savedchart_delete(*, chart: SavedChart) -> None:
    chart.delete()


def savedchart_scratch_get_or_create(*, user, symbol: str, timeframe: str = "1m") -> SavedChart:
    """The per-user chart behind ``/chart/<symbol>/`` (drawings and settings of that page)."""
    symbol = L.clean_symbol(symbol)
    chart, _ = SavedChart.objects.get_or_create(
        owner=user,
        scratch_key=symbol,
        defaults={"symbol": symbol, "timeframe": L.clean_timeframe(timeframe)},
    )
    return chart


# --- drawings ---------------------------------------------------------------------------


def drawing_create(*, chart: SavedChart, symbol: str | None, data: dict) -> Drawing:
    cleaned = L.clean_drawing(data)
    L.check_drawing_points(cleaned["kind"], cleaned["points"])
    symbol = L.clean_symbol(symbol or chart.symbol)
    if Drawing.objects.filter(chart=chart).count() >= MAX_DRAWINGS_PER_CHART:
        raise ValidationError(f"a chart holds at most {MAX_DRAWINGS_PER_CHART} drawings")
    return Drawing.objects.create(chart=chart, symbol=symbol, **cleaned)


def drawing_update(*, drawing: Drawing, data: dict, version) -> Drawing:
    """Apply ``data`` if the stored version is still ``version``; else VersionConflict."""
    if isinstance(version, bool) or not isinstance(version, int):
        raise ValidationError({"version": "the version this change is based on is required"})
    cleaned = L.clean_drawing(data, partial=True)
    kind = cleaned.get("kind", drawing.kind)
    points = cleaned.get("points", drawing.points)
    L.check_drawing_points(kind, points)
    updated = Drawing.objects.filter(pk=drawing.pk, version=version).update(
        **cleaned, version=F("version") + 1, updated_at=timezone.now()
    )
    if not updated:
        raise VersionConflict(Drawing.objects.filter(pk=drawing.pk).first())
    drawing.refresh_from_db()
    return drawing


def drawing_delete(*, drawing: Drawing, version=None) -> None:
    qs = Drawing.objects.filter(pk=drawing.pk)
    if version is not None:
        if isinstance(version, bool) or not isinstance(version, int):
            raise ValidationError({"version": "must be an integer"})
        qs = qs.filter(version=version)
    if not qs.delete()[0]:
        raise VersionConflict(Drawing.objects.filter(pk=drawing.pk).first())


def preferences_update(*, user, theme: str | None = None) -> dict:
    """The chart page's theme switch. NOTE: writes ``accounts.User.preferences``; move to an
    accounts service (``user_preferences_update``) when that app provides one."""
    prefs = dict(user.preferences or {})
    if theme is not None:
        if theme not in ("dark", "light"):
            raise ValidationError({"theme": "must be dark or light"})
        prefs["theme"] = theme
    user.preferences = prefs
    user.save(update_fields=["preferences"])
    return prefs
