"""Indicator REST API (SPEC section 4; shapes of reference/003): one view per operation.

* ``GET  /api/v1/indicators/catalog``    every indicator, its params/outputs/pane
* ``GET  /api/v1/indicators/current``    newest value of several specs
* ``GET  /api/v1/indicators/history``    ``lookback`` values of one spec
* ``GET  /api/v1/indicators/at-offset``  values N candles before the newest one
* ``POST /api/v1/indicators/batch``      many (timeframe, spec, lookback) queries
* ``POST /api/v1/indicators/subscribe`` / ``unsubscribe``: the REST side of the
  ``/ws/indicators/`` subscriptions (``streams``)

Specs are ``RSI_14``-style strings, JSON spec objects, or ``CUSTOM_<id>`` (a saved
formula the caller owns or that is public). Bad specs answer
``400 {"error": {"code": "INVALID_INDICATOR", "message": <what is allowed>}}``; formula
failures ``400 INVALID_FORMULA`` with the token position; another user's private symbol
or formula ``404``.

Responses are built as dicts with cached JSON fragments (``service.SeriesPayload``) and
encoded with orjson rather than through DRF serializers: a batch can carry 20,000 points
and cache hits must not be re-parsed. Input is validated with serializers.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import permissions, serializers
from rest_framework.views import APIView

from apps.accounts.api.errors import ApiError
from apps.marketdata.analytics.indicators import (
    FIELDS,
    FormulaError,
    InvalidIndicator,
    list_indicators,
    split_spec_list,
)
from apps.marketdata.api.ingest import json_response
from apps.marketdata.api.query import visible_symbol
from apps.marketdata.api.views import MarketDataReadPermission
from apps.marketdata.indicators import service, streams
from apps.marketdata.timeframes import TimeframeError
from apps.marketdata.timeframes import parse as parse_timeframe

DEFAULT_LOOKBACK = 100
MAX_BATCH_QUERIES = 100
CATALOG_PATH = "/api/v1/indicators/catalog"


# --- shared parsing ------------------------------------------------------------------------


def _bad_param(name: str, message: str) -> ApiError:
    return ApiError(status_code=400, code="invalid_parameter", message=message, field=name)


def spec_errors(func):
    """Map the indicator library's errors onto the one error shape."""

    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except InvalidIndicator as exc:
            raise ApiError(
                status_code=400, code=exc.code, message=exc.message, catalog=CATALOG_PATH
            ) from None
        except FormulaError as exc:
            raise ApiError(
                status_code=400,
                code=exc.code,
                message=exc.message,
                position=exc.position,
                line=exc.line,
                col=exc.col,
            ) from None
        except service.IndicatorNotFound as exc:
            raise ApiError(status_code=404, code="not_found", message=exc.message) from None

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


def timeframe_of(value):
    try:
        return parse_timeframe(value or "1m")
    except TimeframeError as exc:
        raise ApiError(status_code=400, code="invalid_timeframe", message=str(exc)) from None


def int_param(raw, name: str, low: int, high: int, default: int) -> int:
    if raw is None or raw == "":
        return default
    text = str(raw).strip()
    if not text.lstrip("-").isdigit() or not low <= int(text) <= high:
        raise _bad_param(name, f"{name} must be an integer from {low} to {high}")
    return int(text)


def spec_values(text: str | None, name: str) -> list:
    """``RSI_14,MACD_12_26_9`` (top-level commas only), or a JSON object/list of specs."""
    if not text or not text.strip():
        raise InvalidIndicator(
            f"{name} is required, e.g. {name}=RSI_14 (see {CATALOG_PATH} for names)"
        )
    text = text.strip()
    if text[0] in "[{":
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise InvalidIndicator(f"{name} is not valid JSON") from None
        return value if isinstance(value, list) else [value]
    return split_spec_list(text)


def symbol_and_tf(request, data):
    code = data.get("symbol")
    if not isinstance(code, str) or not code.strip():
        raise _bad_param("symbol", "symbol is required")
    return visible_symbol(request, code), timeframe_of(data.get("timeframe"))


def symbol_tf_items(request):
    """Symbol, timeframe and the resolved ``indicators`` list of a GET query."""
    symbol, tf = symbol_and_tf(request, request.query_params)
    items = service.resolve_items(
        spec_values(request.query_params.get("indicators"), "indicators"), request.user
    )
    return symbol, tf, items


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def _human(seconds: int) -> str:
    for unit, size in (("day", 86_400), ("hour", 3600), ("minute", 60)):
        if seconds >= 2 * size or (seconds >= size and seconds % size == 0):
            value = seconds / size
            text = f"{value:g}" if value == int(value) else f"{value:.1f}"
            return f"{text} {unit}{'' if value == 1 else 's'}"
    return f"{seconds} second{'' if seconds == 1 else 's'}"


def describe_offset(offset: int, tf, candle: int | None, newest: int | None) -> str:
    """What ``offset`` means in time. Offsets count stored bars, so session breaks and
    weekends are skipped: the elapsed time is measured between the two bars' opens."""
    if offset == 0:
        return f"the current (newest) {tf.name} candle"
    if candle is None or newest is None:
        return f"{offset} candles back (not enough history)"
    return (
        f"{offset} candles back (opened {_human(newest - candle)} before the current "
        f"{tf.name} candle)"
    )


# --- views ---------------------------------------------------------------------------------

_SYMBOL = OpenApiParameter("symbol", str, required=True, description="symbol code, e.g. ESU4")
_TF = OpenApiParameter(
    "timeframe", str, description="1s ... 1w (aliases 1min, 5min, 60min, day, 5); default 1m"
)
_INDICATORS = OpenApiParameter("indicators", str, required=True, description="RSI_14,SMA_20")
_INVALID = OpenApiExample(
    "invalid indicator",
    value={
        "error": {
            "code": "INVALID_INDICATOR",
            "message": "RSI parameter 'period' is out of range (integer from 2 to 5000); got 1",
            "catalog": CATALOG_PATH,
        }
    },
    response_only=True,
    status_codes=["400"],
)


def _macd_example(time: int, macd: float, signal: float, **extra) -> dict:
    """One MACD_12_26_9 point as the schema examples show it."""
    histogram = round(macd - signal, 6)
    return {
        "time": time,
        "value": macd,
        **extra,
        "macd": macd,
        "signal": signal,
        "histogram": histogram,
    }


class CatalogView(APIView):
    """The indicator picker's data: names, groups, params with ranges, outputs, pane."""

    permission_classes = [MarketDataReadPermission]

    @extend_schema(
        parameters=[
            OpenApiParameter("search", str, description="substring of name, title or alias"),
            OpenApiParameter("group", str, description="e.g. Momentum Indicators"),
        ],
        responses={200: OpenApiTypes.OBJECT},
        summary="Indicator catalog",
    )
    def get(self, request):
        items = list_indicators()
        search = request.query_params.get("search", "").strip().lower()[:50]
        group = request.query_params.get("group", "").strip().lower()[:80]
        if search:
            items = [
                d
                for d in items
                if search in d["name"].lower()
                or search in d["title"].lower()
                or any(search in a.lower() for a in d["aliases"])
            ]
        if group:
            items = [d for d in items if d["group"].lower() == group]
        return json_response(
            {
                "count": len(items),
                "fields": list(FIELDS),
                "grammar": "NAME_p1_p2 (RSI_14, MACD_12_26_9), NAME(source) (EMA_9(RSI_14)), "
                "NAME.output (MACD_12_26_9.signal), JSON {name, params, source}, CUSTOM_<id>",
                "indicators": items,
            }
        )


class CurrentView(APIView):
    permission_classes = [MarketDataReadPermission]

    @extend_schema(
        parameters=[_SYMBOL, _TF, _INDICATORS],
        responses={200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT},
        examples=[
            OpenApiExample(
                "current",
                value={
                    "symbol": "ESU4",
                    "timeframe": "5m",
                    "timestamp": "2025-10-31T12:00:00Z",
                    "time": 1761912000,
                    "values": {
                        "RSI_14": {"value": 62.5, "time": 1761912000, "cached": True},
                        "MACD_12_26_9": _macd_example(1761912000, 1.2, 0.9, cached=False),
                    },
                },
                response_only=True,
            ),
            _INVALID,
        ],
        summary="Newest value of each indicator (the current, possibly unfinished, bar)",
    )
    @spec_errors
    def get(self, request):
        symbol, tf, items = symbol_tf_items(request)
        payloads = service.series(symbol, tf, [(item, 1) for item in items])
        values, newest = {}, None
        for payload in payloads:
            point = service.values_at(payload, 0)
            entry = {"value": None, "time": None, "timestamp": None, "cached": payload.cached}
            if point is not None:
                newest = point["time"]
                entry.update(point)
                entry.pop("candles_back", None)
                entry["timestamp"] = _iso(point["time"])
            values[payload.item.id] = entry
        return json_response(
            {
                "symbol": symbol.symbol,
                "timeframe": tf.name,
                "timestamp": None if newest is None else _iso(newest),
                "time": newest,
                "values": values,
            }
        )


class HistoryView(APIView):
    permission_classes = [MarketDataReadPermission]

    @extend_schema(
        parameters=[
            _SYMBOL,
            _TF,
            OpenApiParameter("indicator", str, required=True, description="e.g. MACD_12_26_9"),
            OpenApiParameter(
                "lookback",
                int,
                description=f"values to return, 1-{service.MAX_LOOKBACK} "
                f"(default {DEFAULT_LOOKBACK}); warm-up bars are fetched on top",
            ),
        ],
        responses={200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT},
        examples=[
            OpenApiExample(
                "MACD",
                value={
                    "symbol": "ESU4",
                    "timeframe": "5m",
                    "indicator": "MACD_12_26_9",
                    "indicator_id": "MACD_12_26_9",
                    "lookback": 2,
                    "overlay": False,
                    "kind": "line",
                    "outputs": ["macd", "signal", "histogram"],
                    "series": [
                        _macd_example(1761911700, 1.1, 0.8, candles_back=1),
                        _macd_example(1761912000, 1.2, 0.9, candles_back=0),
                    ],
                },
                response_only=True,
            ),
            _INVALID,
        ],
        summary="Indicator series, oldest first; values equal a full-history computation",
    )
    @spec_errors
    def get(self, request):
        symbol, tf = symbol_and_tf(request, request.query_params)
        values = spec_values(request.query_params.get("indicator"), "indicator")
        if len(values) != 1:
            raise InvalidIndicator("history takes one indicator; use batch for several")
        item = service.resolve_item(values[0], request.user)
        lookback = int_param(
            request.query_params.get("lookback"),
            "lookback",
            1,
            service.MAX_LOOKBACK,
            DEFAULT_LOOKBACK,
        )
        (payload,) = service.series(symbol, tf, [(item, lookback)])
        body = {"symbol": symbol.symbol, "timeframe": tf.name, "lookback": lookback}
        body |= payload.fragments()
        body["indicator_id"] = item.id
        body["cached"] = payload.cached
        return json_response(body)


class AtOffsetView(APIView):
    permission_classes = [MarketDataReadPermission]

    @extend_schema(
        parameters=[
            _SYMBOL,
            _TF,
            _INDICATORS,
            OpenApiParameter(
                "offset",
                int,
                description="candles before the newest bar (0 = the current bar, 1 = the "
                "last closed one). Counted in stored bars of the timeframe, so session "
                "breaks and weekends are skipped; the response gives the bar's open time "
                f"and the elapsed time. 0-{service.MAX_LOOKBACK - 1}",
            ),
        ],
        responses={200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT},
        examples=[
            OpenApiExample(
                "offset 10 on 5m",
                value={
                    "symbol": "ESU4",
                    "timeframe": "5m",
                    "offset": 10,
                    "offset_description": "10 candles back (opened 50 minutes before the "
                    "current 5m candle)",
                    "candle_time": "2025-10-31T11:10:00Z",
                    "time": 1761909000,
                    "values": {"RSI_14": {"value": 60.5}, "SMA_20": {"value": 23550.0}},
                },
                response_only=True,
            ),
            _INVALID,
        ],
        summary="Indicator values N candles back",
    )
    @spec_errors
    def get(self, request):
        symbol, tf, items = symbol_tf_items(request)
        offset = int_param(
            request.query_params.get("offset"), "offset", 0, service.MAX_LOOKBACK - 1, 0
        )
        payloads = service.series(symbol, tf, [(item, offset + 1) for item in items])
        values, candle, newest = {}, None, None
        for payload in payloads:
            points = payload.points()
            if points:
                newest = points[-1]["time"]
            point = service.values_at(payload, offset)
            entry = {"value": None}
            if point is not None:
                candle = point["time"]
                entry = {k: v for k, v in point.items() if k not in ("time", "candles_back")}
            values[payload.item.id] = entry
        return json_response(
            {
                "symbol": symbol.symbol,
                "timeframe": tf.name,
                "offset": offset,
                "offset_description": describe_offset(offset, tf, candle, newest),
                "candle_time": None if candle is None else _iso(candle),
                "time": candle,
                "values": values,
            }
        )


class BatchQuerySerializer(serializers.Serializer):
    timeframe = serializers.CharField(max_length=16)
    indicator = serializers.JSONField(help_text='"RSI_14", a JSON spec or "CUSTOM_<id>"')
    lookback = serializers.IntegerField(
        min_value=1, max_value=service.MAX_LOOKBACK, default=DEFAULT_LOOKBACK
    )


class BatchRequestSerializer(serializers.Serializer):
    symbol = serializers.CharField(max_length=64)
    queries = BatchQuerySerializer(many=True, allow_empty=False)

    def validate_queries(self, value):
        if len(value) > MAX_BATCH_QUERIES:
            raise serializers.ValidationError(f"at most {MAX_BATCH_QUERIES} queries")
        return value


class BatchView(APIView):
    """Several timeframes and indicators in one request: bars are read once per
    timeframe, each (spec, lookback) is cached separately."""

    permission_classes = [MarketDataReadPermission]

    @extend_schema(
        request=BatchRequestSerializer,
        responses={200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT},
        examples=[
            OpenApiExample(
                "multi-timeframe RSI",
                value={
                    "symbol": "ESU4",
                    "queries": [
                        {"timeframe": "1m", "indicator": "RSI_14", "lookback": 10},
                        {"timeframe": "5m", "indicator": "RSI_14", "lookback": 20},
                    ],
                },
                request_only=True,
            ),
            _INVALID,
        ],
        summary="Batch of indicator series across timeframes",
    )
    @spec_errors
    def post(self, request):
        data = BatchRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        symbol = visible_symbol(request, data.validated_data["symbol"])
        by_tf: dict[str, tuple] = {}
        for index, query in enumerate(data.validated_data["queries"]):
            tf = timeframe_of(query["timeframe"])
            try:
                item = service.resolve_item(query["indicator"], request.user)
            except InvalidIndicator as exc:
                raise InvalidIndicator(f"queries[{index}]: {exc.message}") from None
            by_tf.setdefault(tf.name, (tf, []))[1].append((index, item, query["lookback"]))
        results: list = [None] * len(data.validated_data["queries"])
        for tf, entries in by_tf.values():
            payloads = service.series(symbol, tf, [(item, lb) for _, item, lb in entries])
            for (index, item, lookback), payload in zip(entries, payloads, strict=True):
                results[index] = {
                    "timeframe": tf.name,
                    "indicator_id": item.id,
                    "lookback": lookback,
                    "cached": payload.cached,
                    **payload.fragments(),
                }
        return json_response({"symbol": symbol.symbol, "results": results})


class SubscribeSerializer(serializers.Serializer):
    symbol = serializers.CharField(max_length=64)
    timeframe = serializers.CharField(max_length=16, default="1m")
    indicators = serializers.ListField(
        child=serializers.JSONField(), allow_empty=False, max_length=service.MAX_SPECS
    )
    client_id = serializers.RegexField(
        r"^[0-9a-f]{32}$",
        required=False,
        help_text="the client_id of a live /ws/indicators/ connection (its welcome message) "
        "to attach these subscriptions to it, or of an earlier REST subscription to renew",
    )


class UnsubscribeSerializer(SubscribeSerializer):
    indicators = serializers.ListField(
        child=serializers.JSONField(), required=False, max_length=service.MAX_SPECS
    )


def _subscription(indicator_id: str, symbol, tf, count: int, status: str, **extra) -> dict:
    return {
        "indicator_id": indicator_id,
        "symbol": symbol.symbol,
        "timeframe": tf.name,
        "subscriber_count": count,
        "status": status,
        **extra,
    }


def _tell_connection(channel: str, action: str, symbol, tf, ids: list[str]) -> None:
    """Attach or detach subscriptions on the caller's live ``/ws/indicators/`` consumer."""
    async_to_sync(get_channel_layer().send)(
        channel,
        {
            "type": f"indicators.{action}",
            "symbol": symbol.symbol,
            "timeframe": tf.name,
            "indicators": ids,
        },
    )


def _owned_client(client_id: str, user) -> tuple[dict, list]:
    info = streams.client_info(client_id)
    if info is None or info[0].get("owner") != str(user.pk):
        raise ApiError(status_code=404, code="not_found", message=f"unknown client {client_id}")
    return info


class SubscribeView(APIView):
    """Register interest in indicators (counted in Redis with every server's WebSocket
    subscriptions). With the ``client_id`` of the caller's live WebSocket the
    subscriptions join that connection, which then receives ``indicator_update``s;
    without, a REST client is created whose subscriptions lapse after ``expires_in``
    seconds unless renewed by subscribing again with its ``client_id``."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        request=SubscribeSerializer,
        responses={200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT},
        examples=[
            OpenApiExample(
                "subscribed",
                value={
                    "status": "success",
                    "client_id": "5f0c...",
                    "expires_in": streams.REST_LEASE_S,
                    "subscriptions": [
                        {
                            "indicator_id": "RSI_14",
                            "symbol": "ESU4",
                            "timeframe": "5m",
                            "subscriber_count": 1,
                            "status": "subscribed",
                            "initial_value": 62.5,
                        }
                    ],
                },
                response_only=True,
            ),
            _INVALID,
        ],
        summary="Subscribe to indicators",
    )
    @spec_errors
    def post(self, request):
        data = SubscribeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        symbol, tf = symbol_and_tf(request, data.validated_data)
        items = service.resolve_items(data.validated_data["indicators"], request.user)
        client_id = data.validated_data.get("client_id")
        channel = ""
        if client_id:
            channel = _owned_client(client_id, request.user)[0].get("channel", "")
        else:
            client_id = uuid.uuid4().hex
        lease = streams.WS_LEASE_S if channel else streams.REST_LEASE_S
        payloads = service.series(symbol, tf, [(item, 1) for item in items])
        ids = list(dict.fromkeys(item.id for item in items))
        pipe = service.redis_client().pipeline(transaction=False)
        streams.queue_register_client(pipe, client_id, str(request.user.pk), channel, lease)
        streams.queue_subscribe(pipe, client_id, symbol.symbol, tf.name, ids, lease)
        counts = streams.subscribe_result(pipe.execute()[2:], ids)
        if channel:
            _tell_connection(channel, "attach", symbol, tf, ids)
        subscriptions = []
        for payload in payloads:
            point = service.values_at(payload, 0)
            subscriptions.append(
                _subscription(
                    payload.item.id,
                    symbol,
                    tf,
                    counts[payload.item.id],
                    "subscribed",
                    initial_value=None if point is None else point["value"],
                    candle_time=None if point is None else _iso(point["time"]),
                )
            )
        body = {"status": "success", "client_id": client_id, "subscriptions": subscriptions}
        body["expires_in"] = None if channel else lease
        return json_response(body)


class UnsubscribeView(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        request=UnsubscribeSerializer,
        responses={200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT},
        summary="Unsubscribe from indicators (all of them when 'indicators' is omitted)",
    )
    @spec_errors
    def post(self, request):
        data = UnsubscribeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        symbol, tf = symbol_and_tf(request, data.validated_data)
        client_id = data.validated_data.get("client_id")
        if not client_id:
            raise _bad_param("client_id", "client_id is required (from subscribe)")
        meta, subs = _owned_client(client_id, request.user)
        mine = [sid for s, t, sid in subs if s == symbol.symbol and t == tf.name]
        wanted = data.validated_data.get("indicators")
        ids = mine if wanted is None else [service.canonical_id(v) for v in wanted]
        ids = [i for i in dict.fromkeys(ids) if i in mine]
        counts: dict[str, int] = {}
        if ids:
            pipe = service.redis_client().pipeline(transaction=False)
            streams.queue_unsubscribe(pipe, client_id, symbol.symbol, tf.name, ids)
            counts = streams.unsubscribe_result(pipe.execute(), ids)
        if meta.get("channel") and ids:
            _tell_connection(meta["channel"], "detach", symbol, tf, ids)
        return json_response(
            {
                "status": "success",
                "client_id": client_id,
                "unsubscribed": [
                    _subscription(i, symbol, tf, counts[i], "unsubscribed") for i in ids
                ],
            }
        )
