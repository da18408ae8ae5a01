"""The shapes the chart page saves: pane state, workspace layouts and drawings.

Everything the browser sends is normalised here before it is stored, so that what is
restored on reload is exactly what was validated (unknown keys are dropped, types are
checked, sizes are bounded). The JavaScript side (``static/charts/``) mirrors these
names; keep them in step.
"""

from __future__ import annotations

import math
import re
from typing import Any

from django.core.exceptions import ValidationError

from apps.charts.models import DrawingKind
from apps.marketdata.timeframes import TimeframeError
from apps.marketdata.timeframes import parse as parse_timeframe

GRIDS = (1, 2, 3, 4, 6, 8)
#: Chart types the browser knows. footprint/tpo are drawn by the order-flow module when it
#: is present (the browser falls back to candles otherwise); add new custom series here
#: and register them in ``static/charts/chart-types.js``.
CHART_TYPES = (
    "candles",
    "hollow_candles",
    "bars",
    "line",
    "line_markers",
    "step_line",
    "area",
    "baseline",
    "columns",
    "high_low",
    "heikin_ashi",
    "renko",
    "range_bars",
    "volume_candles",
    "footprint",
    "tpo",
)
SYNC_GROUPS = ("a", "b", "c", "d")
TIME_ZONE_MODES = ("user", "exchange", "utc")
#: Points each drawing kind needs: [{"time": epoch s, "price": float}, ...].
DRAWING_POINTS = {
    DrawingKind.TREND_LINE: 2,
    DrawingKind.RAY: 2,
    DrawingKind.HORIZONTAL_LINE: 1,
    DrawingKind.HORIZONTAL_RAY: 1,
    DrawingKind.VERTICAL_LINE: 1,
    DrawingKind.RECTANGLE: 2,
    DrawingKind.PARALLEL_CHANNEL: 3,
    DrawingKind.FIB_RETRACEMENT: 2,
    DrawingKind.FIB_EXTENSION: 3,
    DrawingKind.TEXT: 1,
    DrawingKind.PRICE_RANGE: 2,
    DrawingKind.LONG_POSITION: 3,
    DrawingKind.SHORT_POSITION: 3,
}
MAX_TIME = 4_102_444_800  # 2100-01-01
SPEC_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,79}$")
COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?$")
ID_RE = re.compile(r"^[A-Za-z0-9_\-]{1,40}$")
SYMBOL_RE = re.compile(r"^[A-Za-z0-9._\-]{1,32}(:[A-Za-z0-9._\-]{1,15})?$")


def _fail(message: str, field: str | None = None) -> ValidationError:
    return ValidationError({field: message} if field else message)


def _finite(value: Any, field: str, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail("must be a number", field)
    number = float(value)
    if not math.isfinite(number) or (positive and number <= 0):
        raise _fail("must be a finite positive number" if positive else "must be finite", field)
    return number


def clean_symbol(value: Any, field: str = "symbol") -> str:
    if not isinstance(value, str) or not SYMBOL_RE.match(value.strip()):
        raise _fail("must be a symbol code such as ES or ES:CME", field)
    return value.strip().upper()


def clean_timeframe(value: Any, field: str = "timeframe") -> str:
    try:
        return parse_timeframe(value).name
    except TimeframeError as exc:
        raise _fail(str(exc), field) from None


def clean_chart_type(value: Any, field: str = "chart_type") -> str:
    return _choice(value, CHART_TYPES, field)


def clean_options(value: Any, field: str = "options") -> dict:
    """Per-chart display options (unknown keys are dropped)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail("must be an object", field)
    out: dict = {}
    for key in ("renko_box", "range_size"):
        if value.get(key) is not None:
            out[key] = _finite(value[key], f"{field}.{key}", positive=True)
    if value.get("tz") is not None:
        out["tz"] = _choice(value["tz"], TIME_ZONE_MODES, f"{field}.tz")
    for key in ("log_scale", "hide_volume"):
        if key in value:
            out[key] = bool(value[key])
    out.update(clean_orderflow_options(value, field))
    # Options of other chart-type/overlay plugins (static/charts/chart-types.js registry):
    # kept if small and plain.
    extra = [k for k in value if k not in KNOWN_OPTIONS]
    if len(extra) > MAX_EXTRA_OPTIONS:
        raise _fail(f"at most {MAX_EXTRA_OPTIONS} plugin options", field)
    for key in extra:
        if not isinstance(key, str) or not OPTION_KEY_RE.match(key):
            raise _fail("option names are lower_case words", field)
        out[key] = _plain(value[key], f"{field}.{key}")
    return out


#: The order-flow plugin's options (static/charts/orderflow/): the footprint cell mode, the
#: overlays switched on, the TPO letter/block display and period, and the time range of
#: the fixed-range volume profile.
FOOTPRINT_MODES = ("bidask", "delta", "volume")
ORDERFLOW_OVERLAYS = ("volume_profile", "volume_profile_visible", "volume_profile_fixed", "cvd")
TPO_MODES = ("letters", "blocks")
TPO_PERIOD_MINUTES = (1, 1440)  # as the market-profile API's ``period``
ORDERFLOW_OPTIONS = {"fp_mode", "of_overlays", "tpo_mode", "tpo_period", "vp_range"}
KNOWN_OPTIONS = {"renko_box", "range_size", "tz", "log_scale", "hide_volume", *ORDERFLOW_OPTIONS}
MAX_EXTRA_OPTIONS = 20
OPTION_KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


def _choice(value: Any, choices: tuple[str, ...], field: str) -> str:
    if value not in choices:
        raise _fail(f"must be one of {', '.join(choices)}", field)
    return value


def _whole(value: Any, field: str, low: int, high: int) -> int:
    number = _finite(value, field)
    if number != int(number) or not low <= number <= high:
        raise _fail(f"must be a whole number from {low} to {high}", field)
    return int(number)


def clean_orderflow_options(value: dict, field: str = "options") -> dict:
    """The order-flow options of ``value`` (absent or null ones are left out).

    Bad values are refused; ``of_overlays`` is cleaned instead (duplicates and overlay ids
    this version does not know are dropped), so that a layout saved by a newer page still
    saves here."""
    out: dict = {}
    if value.get("fp_mode") is not None:
        out["fp_mode"] = _choice(value["fp_mode"], FOOTPRINT_MODES, f"{field}.fp_mode")
    if value.get("tpo_mode") is not None:
        out["tpo_mode"] = _choice(value["tpo_mode"], TPO_MODES, f"{field}.tpo_mode")
    if value.get("tpo_period") is not None:
        out["tpo_period"] = _whole(value["tpo_period"], f"{field}.tpo_period", *TPO_PERIOD_MINUTES)
    overlays = value.get("of_overlays")
    if overlays is not None:
        where = f"{field}.of_overlays"
        if not isinstance(overlays, list) or len(overlays) > 16:
            raise _fail("must be a list of at most 16 overlay ids", where)
        if not all(isinstance(item, str) for item in overlays):
            raise _fail("overlay ids are strings", where)
        kept = [item for item in dict.fromkeys(overlays) if item in ORDERFLOW_OVERLAYS]
        if kept:
            out["of_overlays"] = kept
    if value.get("vp_range") is not None:
        out["vp_range"] = _time_range(value["vp_range"], f"{field}.vp_range")
    return out


def _time_range(value: Any, field: str) -> list[int]:
    """``[start, end]``: epoch seconds, start before end (end exclusive)."""
    if not isinstance(value, list) or len(value) != 2:
        raise _fail("must be [start, end] in epoch seconds", field)
    start, end = (_whole(v, field, 0, MAX_TIME) for v in value)
    if start >= end:
        raise _fail("start must be before end", field)
    return [start, end]


def _plain(value: Any, field: str, *, nested: bool = False):
    """A short string, a bool, a finite number, or a list of up to 16 of those."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return _finite(value, field)
    if isinstance(value, str):
        if len(value) > 64:
            raise _fail("must be at most 64 characters", field)
        return value
    if isinstance(value, list) and not nested and len(value) <= 16:
        return [_plain(v, field, nested=True) for v in value]
    raise _fail("must be a short string, a number, a boolean or a short list of those", field)


def clean_indicators(value: Any, *, limit: int | None, field: str = "indicators") -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _fail("must be a list", field)
    if limit is not None and len(value) > limit:
        raise TierLimitError(
            "indicators_per_chart",
            limit,
            f"Your plan allows {limit} indicators per chart.",
        )
    out, seen = [], set()
    for i, item in enumerate(value[:100]):
        where = f"{field}[{i}]"
        if not isinstance(item, dict):
            raise _fail("must be an object", where)
        spec = item.get("spec")
        if not isinstance(spec, str) or not SPEC_RE.match(spec):
            raise _fail("spec must look like RSI_14 or MACD_12_26_9", f"{where}.spec")
        ident = str(item.get("id") or f"i{i}")
        if not ID_RE.match(ident) or ident in seen:
            raise _fail("id must be unique letters, digits, _ or -", f"{where}.id")
        seen.add(ident)
        entry = {"id": ident, "spec": spec, "visible": bool(item.get("visible", True))}
        color = item.get("color")
        if color:
            if not isinstance(color, str) or not COLOR_RE.match(color):
                raise _fail("color must be #rrggbb", f"{where}.color")
            entry["color"] = color
        out.append(entry)
    return out


def clean_sync(value: Any, field: str = "sync") -> dict:
    value = value if isinstance(value, dict) else {}
    out = {}
    for key in ("symbol", "crosshair"):
        group = value.get(key)
        if group not in (None, "", *SYNC_GROUPS):
            raise _fail(f"must be one of {', '.join(SYNC_GROUPS)} or null", f"{field}.{key}")
        out[key] = group or None
    return out


def clean_chart_state(value: Any, *, indicator_limit: int | None, field: str = "") -> dict:
    """One chart's state: symbol, timeframe, chart_type, options, indicators."""
    if not isinstance(value, dict):
        raise _fail("must be an object", field or None)
    prefix = f"{field}." if field else ""
    return {
        "symbol": clean_symbol(value.get("symbol"), f"{prefix}symbol"),
        "timeframe": clean_timeframe(value.get("timeframe", "1m"), f"{prefix}timeframe"),
        "chart_type": clean_chart_type(value.get("chart_type", "candles"), f"{prefix}chart_type"),
        "options": clean_options(value.get("options"), f"{prefix}options"),
        "indicators": clean_indicators(
            value.get("indicators"), limit=indicator_limit, field=f"{prefix}indicators"
        ),
    }


class TierLimitError(Exception):
    """A subscription-tier limit was hit; ``message`` is shown to the user as is."""

    def __init__(self, limit_name: str, limit: int, message: str):
        super().__init__(message)
        self.limit_name = limit_name
        self.limit = limit
        self.message = message + " Upgrade your plan to raise the limit."


def clean_layout(value: Any, *, pane_limit: int, indicator_limit: int) -> dict:
    """A workspace layout; ``chart`` ids are kept as given (the service checks them)."""
    if not isinstance(value, dict):
        raise _fail("layout_config must be an object", "layout_config")
    grid = value.get("grid", 1)
    if grid not in GRIDS:
        raise _fail(f"grid must be one of {', '.join(map(str, GRIDS))}", "layout_config.grid")
    if grid > pane_limit:
        raise TierLimitError(
            "charts_per_layout", pane_limit, f"Your plan allows {pane_limit} charts per layout."
        )
    panes = value.get("panes")
    if not isinstance(panes, list) or not panes:
        raise _fail("panes must be a non-empty list", "layout_config.panes")
    if len(panes) < grid:  # new cells start as copies of the last pane
        panes = panes + [
            {k: v for k, v in panes[-1].items() if k != "chart"} for _ in range(grid - len(panes))
        ]
    cleaned = []
    for i, pane in enumerate(panes[:grid]):
        field = f"layout_config.panes[{i}]"
        state = clean_chart_state(pane, indicator_limit=indicator_limit, field=field)
        chart = pane.get("chart")
        if chart is not None and (isinstance(chart, bool) or not isinstance(chart, int)):
            raise _fail("chart must be an id", f"{field}.chart")
        state["chart"] = chart
        state["sync"] = clean_sync(pane.get("sync"), f"{field}.sync")
        cleaned.append(state)
    active = value.get("active", 0)
    if isinstance(active, bool) or not isinstance(active, int) or not 0 <= active < grid:
        active = 0
    return {"grid": grid, "active": active, "panes": cleaned}


def clean_drawing(value: Any, *, partial: bool = False) -> dict:
    """Kind, points, style and text of a drawing (``partial`` for updates)."""
    if not isinstance(value, dict):
        raise _fail("must be an object")
    out: dict = {}
    if not partial or "kind" in value:
        if value.get("kind") not in DrawingKind.values:
            raise _fail(f"must be one of {', '.join(DrawingKind.values)}", "kind")
        out["kind"] = value["kind"]
    if not partial or "points" in value:
        points = value.get("points")
        if not isinstance(points, list) or not 1 <= len(points) <= 3:
            raise _fail("must be a list of 1 to 3 {time, price} points", "points")
        out["points"] = []
        for i, point in enumerate(points):
            if not isinstance(point, dict):
                raise _fail("must be an object", f"points[{i}]")
            time = _finite(point.get("time"), f"points[{i}].time")
            if not 0 <= time < MAX_TIME:
                raise _fail("must be epoch seconds", f"points[{i}].time")
            price = _finite(point.get("price"), f"points[{i}].price")
            out["points"].append({"time": int(time), "price": price})
    if "style" in value:
        out["style"] = _clean_style(value["style"])
    elif not partial:
        out["style"] = {}
    if "text" in value:
        if not isinstance(value["text"], str) or len(value["text"]) > 500:
            raise _fail("must be text of at most 500 characters", "text")
        out["text"] = value["text"]
    return out


def check_drawing_points(kind: str, points: list) -> None:
    if len(points) != DRAWING_POINTS[kind]:
        raise _fail(f"{kind} needs {DRAWING_POINTS[kind]} point(s)", "points")


STYLE_KEYS = {
    "color": str,
    "fill": str,
    "width": (int, float),
    "dash": int,
    "font_size": (int, float),
    "extend_left": bool,
    "extend_right": bool,
    "show_labels": bool,
    "levels": list,
}


def _clean_style(value: Any) -> dict:
    if not isinstance(value, dict):
        raise _fail("must be an object", "style")
    out = {}
    for key, kind in STYLE_KEYS.items():
        if key not in value or value[key] is None:
            continue
        item = value[key]
        if not isinstance(item, kind) or (kind is not bool and isinstance(item, bool)):
            raise _fail("has the wrong type", f"style.{key}")
        if key in ("color", "fill") and not COLOR_RE.match(item):
            raise _fail("must be #rrggbb or #rrggbbaa", f"style.{key}")
        if key in ("width", "font_size") and not 0 < item <= 64:
            raise _fail("must be between 0 and 64", f"style.{key}")
        if key == "dash" and not 0 <= item <= 3:
            raise _fail("must be 0 (solid), 1 (dotted), 2 (dashed) or 3", f"style.{key}")
        if key == "levels":
            if len(item) > 16:
                raise _fail("at most 16 levels", "style.levels")
            item = [_finite(x, "style.levels") for x in item]
        out[key] = item
    return out
