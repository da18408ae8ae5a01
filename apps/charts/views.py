"""Chart pages (HTML; the chart itself is drawn in the browser by ``static/charts/``).

* ``/chart/<symbol>/?tf=1m``: one chart; its settings and drawings live in the user's
  scratch chart for that symbol.
* ``/workspaces/<id>/``: the same terminal hosting a workspace layout (1-8 panes). Others
  see a public workspace read-only (with a Fork button) and a private one not at all (404).
* ``/workspaces/``: create, rename, duplicate, share, make default and delete (HTMX forms;
  every action answers with the refreshed list fragment).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from functools import lru_cache, wraps
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from apps.charts import selectors, services
from apps.charts.bundle import bundle_url
from apps.charts.embedded import bars_url, embedded_bars
from apps.charts.forms import WorkspaceCreateForm, WorkspaceRenameForm
from apps.charts.layout import CHART_TYPES, GRIDS, TierLimitError, clean_timeframe
from apps.charts.streaming import streamed_page
from apps.marketdata.selectors import symbol_list
from apps.marketdata.timeframes import NAMES as TIMEFRAMES

DEFAULT_INITIAL_BARS = 1500
MAX_INITIAL_BARS = 20_000


logger = logging.getLogger(__name__)


def _symbol_meta(symbol) -> dict:
    return {
        "symbol": symbol.symbol,
        "name": symbol.name,
        "exchange": symbol.exchange,
        "tick_size": symbol.tick,
        "precision": symbol.precision,
        "timezone": symbol.timezone,
        "is_simulated": symbol.is_simulated,
    }


ZONE_TABLE_PAST_DAYS = 800
ZONE_TABLE_FUTURE_DAYS = 60


@lru_cache(maxsize=64)
def _zone_offsets(zone: str, day: int) -> list[list[int]]:
    """UTC-offset changes of ``zone`` around ``day`` (epoch days): ``[[from_ts, offset_s]]``.

    The chart page formats its time axis in the exchange's or the user's zone; with this
    table the browser needs no ``Intl`` time-zone work for the bars it shows (Intl is only
    the fallback outside the table), which keeps it off the first-candle path.
    """
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return []

    def offset(ts: int) -> int:
        return int(datetime.fromtimestamp(ts, tz).utcoffset().total_seconds())

    start = (day - ZONE_TABLE_PAST_DAYS) * 86_400
    end = (day + ZONE_TABLE_FUTURE_DAYS) * 86_400
    table = [[start, offset(start)]]
    for t in range(start + 86_400, end + 1, 86_400):
        if offset(t) != table[-1][1]:
            lo, hi = t - 86_400, t  # the change is in (lo, hi]: find the second
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if offset(mid) == table[-1][1] else (lo, mid)
            table.append([hi, offset(hi)])
    table.append([end, offset(end)])
    return table


def _zone_tables(zones) -> dict:
    day = int(time.time() // 86_400)
    return {z: _zone_offsets(z, day) for z in sorted({z for z in zones if z and z != "UTC"})}


def _initial_bars(request) -> int:
    raw = request.GET.get("bars", "")
    if raw.isdigit():
        return max(100, min(int(raw), MAX_INITIAL_BARS))
    return DEFAULT_INITIAL_BARS


# Where the embedded bars go in the rendered page (templates/charts/terminal.html).
EMBED_SLOT = "<!--tf:embedded-bars-->"


def _terminal(
    request, *, mode: str, layout: dict, workspace=None, chart=None, readonly=False, known=None
):
    """The terminal page; ``known``: symbols already looked up ({code: Symbol})."""
    user = request.user
    symbols, models = {}, {}
    for pane in layout["panes"]:
        symbol = (known or {}).get(pane["symbol"]) or selectors.symbol_visible(
            user=user, code=pane["symbol"]
        )
        if symbol is not None:
            symbols[pane["symbol"]] = _symbol_meta(symbol)
            models[pane["symbol"]] = symbol
    limits = selectors.tier_limits(user)
    initial = _initial_bars(request)
    prefs = (getattr(user, "preferences", None) or {}) if user.is_authenticated else {}
    config = {
        "mode": mode,
        "readonly": readonly,
        "layout": layout,
        "symbols": symbols,
        "workspace": (
            {
                "id": workspace.id,
                "name": workspace.name,
                "is_public": workspace.is_public,
                "owner": workspace.owner.username,
                "url": reverse("charts:workspace", args=[workspace.id]),
            }
            if workspace
            else None
        ),
        "chart": chart.id if chart else None,
        "initial_bars": initial,
        "user": {
            "timezone": prefs.get("timezone"),
            "theme": prefs.get("theme", "dark"),
            "tier": getattr(user, "subscription_tier", "free"),
        },
        "limits": {
            "charts_per_layout": limits["charts_per_layout"],
            "indicators_per_chart": limits["indicators_per_chart"],
        },
        "urls": {
            "bars": "/api/v1/market-data/",
            "ws": "/ws/market/",
            "charts": "/api/v1/charts/",
            "workspaces": "/api/v1/workspaces/",
            "indicator_catalog": "/api/v1/indicators/catalog",
            "indicator_history": "/api/v1/indicators/history",
            "indicator_stream": "/ws/indicators/",
            "preferences": reverse("charts:preferences"),
            "chart_page": "/chart/",
            "htmx": static("vendor/htmx/htmx.min.js"),  # loaded after the first candle
            "login": settings.LOGIN_URL,
        },
        "timeframes": TIMEFRAMES,
        "zones": _zone_tables([m["timezone"] for m in symbols.values()] + [prefs.get("timezone")]),
        "grids": list(GRIDS),
        "chart_types": list(CHART_TYPES),
        # ES modules that register more chart types/overlays (static/charts/chart-types.js),
        # e.g. the order-flow views: ["/static/orderflow/footprint.js"]
        "plugins": list(getattr(settings, "CHART_PLUGINS", [])),
    }
    active = layout["panes"][layout.get("active", 0)]
    embed = None  # the active pane's first bars come with the page
    if active["symbol"] in models:
        embed = (models[active["symbol"]], active["symbol"], active["timeframe"], initial)
    embedded_url = bars_url(*embed[1:]) if embed else None
    preloads = []
    for pane in layout["panes"]:
        url = bars_url(pane["symbol"], pane["timeframe"], initial)
        if pane["symbol"] in symbols and url != embedded_url and url not in preloads:
            preloads.append(url)
    context = {
        "config": config,
        "chart_bundle": bundle_url(),
        "embedded_bars_slot": mark_safe(EMBED_SLOT) if embed else "",  # noqa: S308
        "preloads": preloads,
        "workspace": workspace,
        "readonly": readonly,
        "active_symbol": symbols.get(active["symbol"]),
        "active_pane": active,
        "timeframes": TIMEFRAMES,
        "grids": GRIDS,
        "workspaces": (selectors.workspace_list(user=user)[:30] if user.is_authenticated else []),
    }
    html = render_to_string("charts/terminal.html", context, request)
    if embed is None:
        response = HttpResponse(html)
    else:
        # the page up to the bars goes out first: the browser loads the scripts and styles
        # while the bars are read (apps/charts/streaming.py)
        head, slot, tail = html.partition(EMBED_SLOT)
        if not slot:
            raise RuntimeError("templates/charts/terminal.html lost its embedded-bars slot")
        response = streamed_page(request, head, lambda: embedded_bars(*embed), tail)
    # the page carries live bars: a back/forward navigation must not show a stale copy
    add_never_cache_headers(response)
    return response


@login_required
@require_GET
def chart_home(request):
    """``/chart/``: the user's default workspace (made on first visit)."""
    try:
        workspace = services.workspace_default_get_or_create(user=request.user)
    except ValidationError:
        raise Http404("there are no symbols to chart yet") from None
    return redirect("charts:workspace", pk=workspace.pk)


@login_required
@require_GET
def chart_page(request, symbol: str):
    meta = selectors.symbol_visible(user=request.user, code=symbol)
    if meta is None:
        raise Http404(f"unknown symbol {symbol}")
    code = symbol.strip().upper()
    try:
        timeframe = clean_timeframe(request.GET.get("tf") or "1m")
    except ValidationError:
        timeframe = "1m"
    chart = services.savedchart_scratch_get_or_create(
        user=request.user, symbol=code, timeframe=timeframe
    )
    pane = {
        "symbol": code,
        "timeframe": timeframe if request.GET.get("tf") else chart.timeframe,
        "chart_type": chart.chart_type,
        "options": chart.options,
        "indicators": chart.indicators,
        "chart": chart.id,
        "sync": {"symbol": None, "crosshair": None},
    }
    layout = {"grid": 1, "active": 0, "panes": [pane]}
    return _terminal(request, mode="chart", layout=layout, chart=chart, known={code: meta})


def _login_or_public(view):
    """Signed-in users; anonymous visitors only when anonymous market data is allowed."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated and not settings.ALLOW_ANONYMOUS_MARKET_DATA:
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return wrapper


@_login_or_public
@require_GET
def workspace_page(request, pk: int):
    workspace = selectors.workspace_get_visible(user=request.user, pk=pk)
    if workspace is None:
        raise Http404("no such workspace")
    readonly = workspace.owner_id != getattr(request.user, "id", None)
    layout = workspace.layout_config or services.default_layout(user=request.user)
    return _terminal(
        request, mode="workspace", layout=layout, workspace=workspace, readonly=readonly
    )


@login_required
@require_GET
def symbol_search(request):
    """HTMX fragment: symbols matching ``q`` (buttons the chart page turns into a switch)."""
    query = request.GET.get("q", "").strip()[:32]
    qs = symbol_list(search=query)
    if not request.user.is_staff:
        qs = qs.filter(is_public=True)
    return render(request, "charts/_symbol_results.html", {"symbols": qs[:30], "query": query})


@login_required
@require_POST
def preferences(request):
    try:
        services.preferences_update(user=request.user, theme=request.POST.get("theme"))
    except ValidationError as exc:
        return HttpResponse("; ".join(exc.messages), status=400)
    return HttpResponse(status=204)


# --- workspace management (HTMX) ---------------------------------------------------------


def _list_context(request, **extra) -> dict:
    user = request.user
    limits = selectors.tier_limits(user)
    workspaces = list(selectors.workspace_list(user=user))
    return {
        "workspaces": workspaces,
        "limit": limits["saved_workspaces"],
        "at_limit": len(workspaces) >= limits["saved_workspaces"],
        "tier": user.subscription_tier,
        "grids": [g for g in GRIDS if g <= limits["charts_per_layout"]],
        "form": extra.pop("form", None) or WorkspaceCreateForm(),
        **extra,
    }


def _list_response(request, status: int = 200, **extra):
    template = "charts/_workspace_list.html" if request.htmx else "charts/workspaces.html"
    return render(request, template, _list_context(request, **extra), status=status)


@login_required
@require_http_methods(["GET", "POST"])
def workspace_list(request):
    if request.method == "GET":
        return render(request, "charts/workspaces.html", _list_context(request))
    form = WorkspaceCreateForm(request.POST)
    if not form.is_valid():
        return _list_response(request, status=400, form=form)
    data = form.cleaned_data
    try:
        if data.get("from_chart"):
            chart = selectors.savedchart_get_owned(user=request.user, pk=data["from_chart"])
            if chart is None:
                raise Http404("no such chart")
            workspace = services.workspace_create_from_chart(
                owner=request.user, name=data["name"], chart=chart
            )
        else:
            workspace = services.workspace_create(
                owner=request.user,
                name=data["name"],
                layout_config=services.default_layout(user=request.user, grid=data["grid"] or 1),
            )
    except (TierLimitError, ValidationError) as exc:
        status = 403 if isinstance(exc, TierLimitError) else 400
        message = exc.message if isinstance(exc, TierLimitError) else "; ".join(exc.messages)
        if data.get("from_chart"):  # the chart page's small "save as workspace" form
            return render(request, "charts/_toast.html", {"message": message}, status=status)
        return _list_response(request, status=status, error=message, form=form)
    url = reverse("charts:workspace", args=[workspace.pk])
    if request.htmx and data.get("from_chart"):
        return HttpResponseClientRedirect(url)
    if request.htmx:
        return _list_response(request, created=workspace)
    return redirect(url)


def _owned_or_404(request, pk):
    workspace = selectors.workspace_get_owned(user=request.user, pk=pk)
    if workspace is None:
        raise Http404("no such workspace")
    return workspace


@login_required
@require_http_methods(["GET", "POST"])
def workspace_rename(request, pk: int):
    workspace = _owned_or_404(request, pk)
    if request.method == "GET":  # the inline form
        return render(request, "charts/_workspace_rename.html", {"ws": workspace})
    form = WorkspaceRenameForm(request.POST)
    if not form.is_valid():
        return _list_response(request, status=400, error="Give the workspace a name.")
    services.workspace_update(workspace=workspace, name=form.cleaned_data["name"])
    return _list_response(request)


@login_required
@require_POST
def workspace_duplicate(request, pk: int):
    workspace = _owned_or_404(request, pk)
    try:
        services.workspace_duplicate(workspace=workspace, owner=request.user)
    except TierLimitError as exc:
        return _list_response(request, status=403, error=exc.message)
    except ValidationError as exc:
        return _list_response(request, status=400, error="; ".join(exc.messages))
    return _list_response(request)


@login_required
@require_POST
def workspace_delete(request, pk: int):
    services.workspace_delete(workspace=_owned_or_404(request, pk))
    return _list_response(request)


@login_required
@require_POST
def workspace_make_default(request, pk: int):
    services.workspace_set_default(workspace=_owned_or_404(request, pk))
    return _list_response(request)


@login_required
@require_POST
def workspace_share(request, pk: int):
    workspace = _owned_or_404(request, pk)
    public = request.POST.get("public") in ("1", "true", "on")
    services.workspace_update(workspace=workspace, is_public=public)
    if request.POST.get("from") == "terminal":
        return render(request, "charts/_share_button.html", {"workspace": workspace})
    return _list_response(request)


@login_required
@require_POST
def workspace_fork(request, pk: int):
    workspace = selectors.workspace_get_visible(user=request.user, pk=pk)
    if workspace is None:
        raise Http404("no such workspace")
    try:
        fork = services.workspace_fork(workspace=workspace, user=request.user)
    except TierLimitError as exc:
        if request.htmx:
            return render(request, "charts/_toast.html", {"message": exc.message}, status=403)
        return _list_response(request, status=403, error=exc.message)
    url = reverse("charts:workspace", args=[fork.pk])
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
