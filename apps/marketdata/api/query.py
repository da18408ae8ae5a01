"""``GET /api/v1/market-data/{symbol}``: bars at any timeframe, oldest first (SPEC 4)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import orjson
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.views import APIView

from apps.accounts.api.errors import ApiError
from apps.marketdata.api.ingest import json_response
from apps.marketdata.api.views import MarketDataReadPermission
from apps.marketdata.selectors import symbol_get_cached
from apps.marketdata.store import reads
from apps.marketdata.timeframes import TimeframeError, parse


def parse_time(value: str | None, name: str) -> datetime | None:
    """ISO-8601 (naive = UTC) or epoch seconds."""
    if not value:
        return None
    try:
        if value.lstrip("-").isdigit():
            return datetime.fromtimestamp(int(value), tz=UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        raise ApiError(
            status_code=400,
            code="invalid_parameter",
            message=f"{name} must be ISO-8601 or epoch seconds",
            field=name,
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def visible_symbol(request, code: str):
    """The symbol if this caller may read it, else a 404 (private ones are invisible)."""
    symbol = symbol_get_cached(code)
    user = request.user
    staff = bool(user and user.is_authenticated and user.is_staff)
    if symbol is None or not (symbol.is_public or staff) or (not symbol.is_active and not staff):
        raise ApiError(status_code=404, code="not_found", message=f"unknown symbol {code}")
    return symbol


# The bars' ``timestamp``: naive UTC datetimes written by orjson as "...T...Z".
TIMESTAMP_OPTION = orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z


def bars_payload(symbol, tf, rows: list[tuple]) -> dict:
    """The response body from ``reads.bar_rows`` tuples; serialise it with
    ``TIMESTAMP_OPTION``. One dict per bar straight from the row (no numpy columns in
    between), and the timestamps as datetimes made in C by numpy for orjson to format:
    this is most of the view's own time on a 500-bar request."""
    stamps = np.array([row[0] for row in rows], dtype="datetime64[s]").tolist()
    bars = [
        {
            "timestamp": stamp,
            "time": t,
            "open": o,
            "high": h,
            "low": lo,
            "close": c,
            "volume": v,
            "bid_volume": bv,
            "ask_volume": av,
            "number_of_trades": n,
        }
        for stamp, (t, o, h, lo, c, v, bv, av, n, _dh, _dl) in zip(stamps, rows, strict=True)
    ]
    return {
        "symbol": symbol.symbol,
        "exchange": symbol.exchange,
        "timeframe": tf.name,
        "tick_size": symbol.tick,
        "precision": symbol.precision,
        "bars": bars,
    }


BAR_FIELDS = (
    "time", "open", "high", "low", "close", "volume", "bid_volume", "ask_volume",
    "number_of_trades",
)  # fmt: skip


def bars_columns(symbol, tf, rows: list[tuple]) -> dict:
    """``bars_payload`` in columns, without the ISO ``timestamp``: what the chart page
    embeds for its first bars (``static/charts/api.js`` ``takeEmbedded`` turns it back
    into the bars of the API). About half the bytes, so half the gzip and parse time."""
    # rows: (time, *sql.BAR_VALUES); the fields the API shows come first, in this order
    columns = list(zip(*rows, strict=True))[: len(BAR_FIELDS)] if rows else [()] * len(BAR_FIELDS)
    payload = bars_payload(symbol, tf, [])
    del payload["bars"]
    return payload | {"columns": dict(zip(BAR_FIELDS, columns, strict=True))}


class BarsView(APIView):
    permission_classes = [MarketDataReadPermission]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "timeframe",
                str,
                description="1s 5s 15s 30s 1m 3m 5m 15m 30m 1h "
                "2h 4h 1d 1w (aliases 1min, 5min, 60min, day, 5)",
            ),
            OpenApiParameter("limit", int, description="bars to return (1-20000, default 500)"),
            OpenApiParameter("start", str, description="ISO-8601 or epoch seconds (inclusive)"),
            OpenApiParameter("end", str, description="ISO-8601 or epoch seconds (exclusive)"),
        ],
        responses={200: OpenApiTypes.OBJECT},
        summary="Bars of a symbol, oldest first",
    )
    def get(self, request, symbol: str):
        sym = visible_symbol(request, symbol)
        try:
            tf = parse(request.query_params.get("timeframe", "1m"))
        except TimeframeError as exc:
            raise ApiError(status_code=400, code="invalid_timeframe", message=str(exc)) from None
        raw_limit = request.query_params.get("limit", "500")
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= reads.MAX_BARS:
            raise ApiError(
                status_code=400,
                code="invalid_parameter",
                field="limit",
                message=f"limit must be an integer from 1 to {reads.MAX_BARS}",
            )
        start = parse_time(request.query_params.get("start"), "start")
        end = parse_time(request.query_params.get("end"), "end")
        if start and end and start >= end:
            raise ApiError(
                status_code=400,
                code="invalid_parameter",
                field="start",
                message="start must be before end",
            )
        rows = reads.bar_rows(sym, tf, limit=int(raw_limit), start=start, end=end)
        return json_response(bars_payload(sym, tf, rows), option=TIMESTAMP_OPTION)
