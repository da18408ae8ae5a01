"""Order-flow and profile endpoints (SPEC 4 and 7). Thin: parse, check, call the service.

* ``GET /api/v1/orderflow/footprint?symbol=&timeframe=&start=&end=&limit=&row_size=
  &ratio=&min_volume=&mode=diagonal|horizontal&stack=``
* ``GET /api/v1/orderflow/cvd?symbol=&timeframe=&limit=&start=&end=&reset=session|none
  &lookback=``
* ``GET /api/v1/volume-profile/{symbol}?start=&end=|session=YYYY-MM-DD&row_size=
  &value_area=70&developing=1&timeframe=5m&naked=N&split=session``
* ``GET /api/v1/market-profile/{symbol}?session=YYYY-MM-DD&period=30m&sessions=N&merge=1
  &row_size=&value_area=70``

Every response states its algorithm and parameters in ``method``; times are epoch seconds
(UTC). A bad parameter is a 400 ``{"error": {"code", "message", "field"}}``; a symbol the
caller may not see is a 404.
"""

from __future__ import annotations

import math
import re
from datetime import date
from decimal import Decimal, InvalidOperation

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.views import APIView

from apps.accounts.api.errors import ApiError
from apps.marketdata import orderflow_service as service
from apps.marketdata.api.ingest import json_response
from apps.marketdata.api.query import parse_time, visible_symbol
from apps.marketdata.api.views import MarketDataReadPermission
from apps.marketdata.store import reads
from apps.marketdata.timeframes import Timeframe, TimeframeError, parse

MODES = ("diagonal", "horizontal")
RESETS = ("session", "none")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def bad(field: str, message: str, code: str = "invalid_parameter") -> ApiError:
    return ApiError(status_code=400, code=code, message=message, field=field)


def _number(params, name: str, default, *, low=None, high=None, low_open=False, integer=False):
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        kind = "an integer" if integer else "a number"
        raise bad(name, f"{name} must be {kind}") from None
    too_low = low is not None and (value <= low if low_open else value < low)
    if not math.isfinite(value) or too_low or (high is not None and value > high):
        bounds = f"{'>' if low_open else '>='} {low}" if low is not None else ""
        if high is not None:
            bounds += (" and " if bounds else "") + f"<= {high}"
        raise bad(name, f"{name} must be {bounds}".strip())
    return value


def _choice(params, name: str, choices: tuple[str, ...], default: str) -> str:
    value = (params.get(name) or default).strip().lower()
    if value not in choices:
        raise bad(name, f"{name} must be one of {', '.join(choices)}")
    return value


def _flag(params, name: str) -> bool:
    value = (params.get(name) or "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise bad(name, f"{name} must be 1 or 0")


def _timeframe(params, default: str, *, intraday_only=False, minimum=1) -> Timeframe:
    try:
        tf = parse(params.get("timeframe") or default)
    except TimeframeError as exc:
        raise bad("timeframe", str(exc), "invalid_timeframe") from None
    if (intraday_only and tf.is_session) or tf.seconds < minimum:
        raise bad("timeframe", f"timeframe {tf.name} is not available here", "invalid_timeframe")
    return tf


def _day(params, name: str = "session") -> date | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise bad(name, f"{name} must be a date YYYY-MM-DD") from None


def _range(params):
    start = parse_time(params.get("start"), "start")
    end = parse_time(params.get("end"), "end")
    if start and end and start >= end:
        raise bad("start", "start must be before end")
    return start, end


def _row_size(symbol, params) -> Decimal | None:
    """``row_size``: a positive multiple of the symbol's tick size (None: the default)."""
    raw = (params.get("row_size") or "").strip()
    if not raw:
        return None
    tick = service.tick_decimal(symbol)
    try:
        row = Decimal(raw)
        ok = row.is_finite() and 0 < row <= tick * 10**9 and row % tick == 0
    except (InvalidOperation, ArithmeticError):  # not a number, or beyond Decimal's range
        ok = False
    if not ok:
        raise bad(
            "row_size",
            f"row_size must be a positive multiple of the tick size {tick} (at most 1e9 ticks)",
        )
    return row


def _period_minutes(params) -> int:
    raw = (params.get("period") or "30m").strip().lower()
    match = re.fullmatch(r"(\d{1,4})\s*(m|min|h)?", raw)
    minutes = 0
    if match:
        minutes = int(match.group(1)) * (60 if match.group(2) == "h" else 1)
    if not 1 <= minutes <= 1440:
        raise bad("period", "period must be minutes from 1 to 1440, e.g. 30m, 30 or 1h")
    return minutes


def _call(func, **kwargs):
    try:
        return json_response(func(**kwargs))
    except service.ParamError as exc:
        raise bad(exc.field, exc.message, exc.code) from None


def _symbol_param(request):
    code = request.query_params.get("symbol")
    if not code:
        raise bad("symbol", "symbol is required")
    return visible_symbol(request, code)


def _bars_window(request):
    """``symbol``, ``timeframe`` (default 1m), ``start``, ``end``: the bar-series endpoints."""
    params = request.query_params
    symbol = _symbol_param(request)
    tf = _timeframe(params, "1m")
    start, end = _range(params)
    return symbol, tf, start, end


def _value_area(params) -> float:
    return _number(params, "value_area", 70.0, low=0.0, high=100.0, low_open=True)


TIME = "ISO-8601 or epoch seconds"
P = OpenApiParameter
_ROW_SIZE = P("row_size", str, description="a multiple of the tick size (default: auto)")
_VALUE_AREA = P("value_area", float, description="value area percent (default 70)")


class FootprintView(APIView):
    permission_classes = [MarketDataReadPermission]

    @extend_schema(
        parameters=[
            P("symbol", str, required=True),
            P("timeframe", str, description="1s ... 4h, 1d, 1w (default 1m); under 1m: ticks"),
            P("start", str, description=f"{TIME}; snapped down to a bar start"),
            P("end", str, description=f"{TIME} (exclusive); default: after the newest data"),
            P("limit", int, description="bars when start is omitted (default 100, max 2000)"),
            P("row_size", str, description="price row: a multiple of the tick size"),
            P("ratio", float, description="imbalance ratio (default: the symbol's, e.g. 3)"),
            P("min_volume", float, description="volume needed against a zero (default: symbol)"),
            P("mode", str, enum=MODES, description="imbalance comparison (default diagonal)"),
            P("stack", int, description="rows in a stacked imbalance (default: the symbol's)"),
        ],
        responses={200: OpenApiTypes.OBJECT},
        summary="Footprint bars: bid/ask volume per price row, POC, delta, imbalances",
    )
    def get(self, request):
        params = request.query_params
        symbol, tf, start, end = _bars_window(request)
        return _call(
            service.footprint,
            symbol=symbol,
            tf=tf,
            start=start,
            end=end,
            limit=_number(
                params,
                "limit",
                service.DEFAULT_FOOTPRINT_BARS,
                low=1,
                high=service.MAX_FOOTPRINT_BARS,
                integer=True,
            ),
            row_size=_row_size(symbol, params),
            ratio=_number(params, "ratio", None, low=1.0, high=1e6),
            min_volume=_number(params, "min_volume", None, low=0.0, high=1e15),
            mode=_choice(params, "mode", MODES, "diagonal"),
            stack=_number(params, "stack", None, low=1, high=100, integer=True),
        )


class CvdView(APIView):
    permission_classes = [MarketDataReadPermission]

    @extend_schema(
        parameters=[
            P("symbol", str, required=True),
            P("timeframe", str, description="1s ... 1w (default 1m)"),
            P("limit", int, description="bars (default 500, max 20000)"),
            P("start", str, description=TIME),
            P("end", str, description=f"{TIME} (exclusive)"),
            P("reset", str, enum=RESETS, description="reset at each session start (default)"),
            P("lookback", int, description="divergence window in bars (default 20)"),
        ],
        responses={200: OpenApiTypes.OBJECT},
        summary="Cumulative delta candles (Sierra Chart Cumulative Delta Bars)",
    )
    def get(self, request):
        params = request.query_params
        symbol, tf, start, end = _bars_window(request)
        return _call(
            service.cvd,
            symbol=symbol,
            tf=tf,
            limit=_number(params, "limit", 500, low=1, high=reads.MAX_BARS, integer=True),
            start=start,
            end=end,
            reset=_choice(params, "reset", RESETS, "session"),
            lookback=_number(params, "lookback", 20, low=1, high=500, integer=True),
        )


class VolumeProfileView(APIView):
    permission_classes = [MarketDataReadPermission]

    @extend_schema(
        parameters=[
            P("start", str, description=f"{TIME}; with end: a fixed or visible range"),
            P("end", str, description=f"{TIME} (exclusive; default now)"),
            P("session", str, description="YYYY-MM-DD: that trading session (default: latest)"),
            _ROW_SIZE,
            _VALUE_AREA,
            P("developing", int, description="1: developing POC/VAH/VAL series"),
            P("timeframe", str, description="step of the developing series (default 5m)"),
            P("naked", int, description="N: POCs of the N earlier sessions, naked or not"),
            P("split", str, enum=["session"], description="also one profile per session"),
        ],
        responses={200: OpenApiTypes.OBJECT},
        summary="Volume profile: POC, value area, HVN/LVN, bid/ask split",
    )
    def get(self, request, symbol: str):
        params = request.query_params
        sym = visible_symbol(request, symbol)
        day = _day(params)
        start, end = _range(params)
        if day and (start or end):
            raise bad("session", "give either session or start/end")
        developing = None
        if _flag(params, "developing"):
            developing = _timeframe(params, "5m", intraday_only=True, minimum=60)
        split = _choice(params, "split", ("none", "session"), "none") == "session"
        return _call(
            service.volume_profile,
            symbol=sym,
            start=start,
            end=end,
            day=day,
            row_size=_row_size(sym, params),
            value_area=_value_area(params),
            developing=developing,
            naked=_number(params, "naked", 0, low=0, high=service.MAX_SESSIONS, integer=True),
            split=split,
        )


class MarketProfileView(APIView):
    permission_classes = [MarketDataReadPermission]

    @extend_schema(
        parameters=[
            P("session", str, description="YYYY-MM-DD (default: the latest session)"),
            P("period", str, description="TPO period: 30m (default), 15, 1h ..."),
            P("sessions", int, description="this many sessions ending with `session`"),
            P("merge", int, description="1: one profile merged over the sessions"),
            _ROW_SIZE,
            _VALUE_AREA,
        ],
        responses={200: OpenApiTypes.OBJECT},
        summary="Market Profile (TPO): letters per price, POC, value area, IB, single prints",
    )
    def get(self, request, symbol: str):
        params = request.query_params
        sym = visible_symbol(request, symbol)
        return _call(
            service.market_profile,
            symbol=sym,
            day=_day(params),
            sessions=_number(params, "sessions", 1, low=1, high=service.MAX_SESSIONS, integer=True),
            period_minutes=_period_minutes(params),
            merge=_flag(params, "merge"),
            row_size=_row_size(sym, params),
            value_area=_value_area(params),
        )
