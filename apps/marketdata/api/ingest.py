"""Ingestion endpoints (SPEC section 3), authenticated with feed keys (``X-API-Key``).

* ``POST /api/v1/market-data/``        one Sierra Chart bar
* ``POST /api/v1/market-data/batch``   Sierra Chart bars ``{"data": [...], "metadata": {}}``
* ``POST /api/v1/market-data/ticks``   trades, rows or columns, JSON or msgpack

Bodies are decoded with orjson/msgpack directly (not DRF parsers) because this is the hot
path. Every failure has the one error shape; 422 and 503 guarantee nothing was written.
"""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

import msgpack
import orjson
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from apps.accounts.models import FeedKey
from apps.marketdata.api.auth import (
    FeedKeyAuthentication,
    HasFeedKey,
    rate_limit_retry_after,
    redis_client,
    verified_feed_key,
)
from apps.marketdata.ingest import bars as bar_ingest
from apps.marketdata.ingest import ticks as tick_ingest
from apps.marketdata.ingest.errors import InvalidRows, PayloadError, TooLarge
from apps.marketdata.models import Symbol
from apps.marketdata.selectors import symbol_get_cached
from apps.marketdata.store import db as store_db

logger = logging.getLogger(__name__)
IDEMPOTENCY_TTL = 24 * 3600
STORE_RETRY_AFTER = 2  # PostgreSQL restarts and fail-overs take seconds
MSGPACK_TYPES = ("application/msgpack", "application/x-msgpack", "application/vnd.msgpack")


def json_response(
    body: dict, status: int = 200, headers: dict | None = None, *, option: int | None = None
) -> HttpResponse:
    """``body`` as JSON (orjson; ``option``: orjson's flags)."""
    response = HttpResponse(
        orjson.dumps(body, option=option), status=status, content_type="application/json"
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def error(status: int, code: str, message: str, headers: dict | None = None, **extra):
    return json_response({"error": {"code": code, "message": message, **extra}}, status, headers)


class JSONOnly(BaseContentNegotiation):
    """Ingestion always answers JSON: no ``Accept`` parsing on the hot path."""

    def select_parser(self, request, parsers):
        return None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class IngestView(APIView):
    """Shared plumbing: key auth, rate limit, body decoding, idempotency, error mapping."""

    authentication_classes = [FeedKeyAuthentication]
    permission_classes = [HasFeedKey]
    parser_classes: list = []
    throttle_classes: list = []
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JSONOnly

    def ingest(self, request, feed_key: FeedKey, payload) -> HttpResponse:
        raise NotImplementedError

    def dispatch(self, request, *args, **kwargs):
        """A POST with a valid feed key (every bar Sierra Chart sends) skips DRF's request
        wrapping, negotiation, permission and response finalisation, which cost about as
        much as the rest of the view: nothing here reads ``request.data`` and every answer
        is an ``HttpResponse`` made by this module. Request and response are what DRF
        would make of them (``user``/``auth`` set, its ``Allow`` header). Anything else (no
        key, a bad or revoked one, another method) goes through DRF: 401/403/405 in the one
        error shape."""
        feed_key = None
        if request.method == "POST":
            feed_key = verified_feed_key(request.META.get("HTTP_X_API_KEY"))
        if feed_key is None:
            return super().dispatch(request, *args, **kwargs)
        self.args, self.kwargs, self.request = args, kwargs, request
        self.headers = self.default_response_headers
        request.user, request.auth = AnonymousUser(), feed_key
        response = self.handle_post(request, feed_key)
        for name, value in self.headers.items():
            response[name] = value
        return response

    def post(self, request, *args, **kwargs):
        return self.handle_post(request, request.auth)

    def handle_post(self, request, feed_key: FeedKey) -> HttpResponse:
        retry = rate_limit_retry_after(feed_key)
        if retry is not None:
            return error(
                429,
                "rate_limited",
                f"too many requests for this key; retry in {retry}s",
                {"Retry-After": str(retry)},
                retry_after=retry,
            )
        # META, not request.headers, which copies every header of the request first
        idem = request.META.get("HTTP_IDEMPOTENCY_KEY", "").strip()[:200]
        idem_key = f"tf:idem:{feed_key.pk}:{request.path}:{idem}" if idem else None
        if idem_key:
            cached = redis_client().get(idem_key)
            if cached:
                status, _, body = cached.partition(b"|")
                response = HttpResponse(body, status=int(status), content_type="application/json")
                response["Idempotent-Replayed"] = "true"
                return response
        response = self._handle(request, feed_key)
        if idem_key and response.status_code < 500 and response.status_code != 429:
            redis_client().set(
                idem_key,
                f"{response.status_code}|".encode() + response.content,
                ex=IDEMPOTENCY_TTL,
                nx=True,
            )
        return response

    def _handle(self, request, feed_key: FeedKey) -> HttpResponse:
        try:
            payload = self._decode(request)
            return self.ingest(request, feed_key, payload)
        except TooLarge as exc:
            return error(413, "payload_too_large", str(exc))
        except PayloadError as exc:
            return error(400, exc.code, str(exc))
        except InvalidRows as exc:
            return json_response(exc.body(), 422)
        except (OperationalError, InterfaceError) as exc:
            logger.warning("market-data store unavailable: %s", exc)
            return error(
                503,
                "store_unavailable",
                "the market-data store is unavailable; nothing was stored, retry later",
                {"Retry-After": str(STORE_RETRY_AFTER)},
                retry_after=STORE_RETRY_AFTER,
            )
        except DatabaseError as exc:
            # A connection killed mid-transaction can surface as a generic DatabaseError;
            # anything else is a bug and must stay a 500.
            if store_db.connection().is_usable():
                raise
            logger.warning("market-data store error: %s", exc)
            return error(
                503,
                "store_unavailable",
                "the market-data store failed; nothing was stored, retry later",
                {"Retry-After": str(STORE_RETRY_AFTER)},
                retry_after=STORE_RETRY_AFTER,
            )

    def _decode(self, request):
        from django.conf import settings

        length = int(request.META.get("CONTENT_LENGTH") or 0)
        if length > settings.INGEST_MAX_BODY_BYTES:
            raise TooLarge(f"body of {length} bytes; the limit is {settings.INGEST_MAX_BODY_BYTES}")
        try:
            body = request.body
        except RequestDataTooBig:
            raise TooLarge(f"the body is over {settings.INGEST_MAX_BODY_BYTES} bytes") from None
        if not body:
            raise PayloadError("the body is empty")
        # the whole header, as DRF's request gives it (both paths of ``dispatch`` agree)
        content_type = request.META.get("CONTENT_TYPE", request.META.get("HTTP_CONTENT_TYPE", ""))
        try:
            if content_type in MSGPACK_TYPES:
                return msgpack.unpackb(body, raw=False, strict_map_key=False)
            return orjson.loads(body)
        except (orjson.JSONDecodeError, msgpack.UnpackException, ValueError) as exc:
            kind = "msgpack" if content_type in MSGPACK_TYPES else "JSON"
            raise PayloadError(f"the body is not valid {kind}: {exc}") from None

    def resolve_symbol(self, feed_key: FeedKey, code: str, asset_type: str = "crypto"):
        if not feed_key.allows(code):
            return None, error(
                403,
                "symbol_not_allowed",
                f"this key may not write {code}; allowed: {', '.join(feed_key.symbols)}",
            )
        symbol = symbol_get_cached(code)
        if symbol is None:
            if not feed_key.auto_create_symbols:
                return None, error(
                    404,
                    "unknown_symbol",
                    f"unknown symbol {code}; create it "
                    "first (manage.py symbol add) or allow auto-creation",
                )
            symbol, _ = Symbol.objects.get_or_create(
                symbol=code,
                exchange=feed_key.feed.upper()[:32],
                defaults={"asset_type": asset_type, "tick_size": "0.01", "name": code},
            )
        return symbol, None


SIERRA_EXAMPLE = {
    "timestamp": "2025-11-26 21:17:14",
    "open": 4162.88,
    "high": 4162.88,
    "low": 4162.58,
    "close": 4162.58,
    "volume": 19,
    "bid_volume": 15,
    "ask_volume": 4,
    "number_of_trades": 3,
    "open_interest": None,
    "chart_info": {"symbol": "XAUUSD", "chart_number": 1, "seconds_per_bar": 1},
}


class SierraBarView(IngestView):
    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT},
        parameters=[OpenApiParameter("X-API-Key", str, OpenApiParameter.HEADER, required=True)],
        examples=[OpenApiExample("Sierra Chart bar", value=SIERRA_EXAMPLE, request_only=True)],
        summary="Store one Sierra Chart bar",
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def ingest(self, request, feed_key, payload):
        if not isinstance(payload, dict):
            raise PayloadError("the body must be one bar object")
        bar = bar_ingest.parse_sierra_one(payload, ZoneInfo(feed_key.timezone))
        symbol, problem = self.resolve_symbol(feed_key, bar.symbol, "commodities")
        if problem:
            return problem
        bar_ingest.ingest_one_bar(symbol, bar)
        return json_response(
            {"status": "success", "symbol": symbol.symbol, "timeframe": bar.timeframe}
        )

    def _store(self, feed_key, bars, metadata):
        batch = bar_ingest.parse_sierra(bars, metadata, ZoneInfo(feed_key.timezone))
        symbol, problem = self.resolve_symbol(feed_key, batch.symbol, "commodities")
        if problem:
            return problem
        stored = bar_ingest.ingest_bars(symbol, batch)
        return json_response(
            {
                "status": "success",
                "bars_received": batch.received,
                "bars_stored": stored,
                "symbol": symbol.symbol,
                "timeframe": batch.timeframe,
            }
        )


class SierraBatchView(SierraBarView):
    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT},
        parameters=[OpenApiParameter("X-API-Key", str, OpenApiParameter.HEADER, required=True)],
        examples=[
            OpenApiExample(
                "Sierra Chart batch",
                request_only=True,
                value={"data": [SIERRA_EXAMPLE], "metadata": {}},
            )
        ],
        summary="Store a batch of Sierra Chart bars (all or nothing)",
    )
    def post(self, request, *args, **kwargs):
        return IngestView.post(self, request, *args, **kwargs)

    def ingest(self, request, feed_key, payload):
        if not isinstance(payload, dict) or "data" not in payload:
            raise PayloadError('the body must be {"data": [bars], "metadata": {...}}')
        return self._store(feed_key, payload["data"], payload.get("metadata"))


class TicksView(IngestView):
    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT},
        parameters=[
            OpenApiParameter("X-API-Key", str, OpenApiParameter.HEADER, required=True),
            OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER),
        ],
        examples=[
            OpenApiExample(
                "rows",
                request_only=True,
                value={
                    "symbol": "BTCUSDT",
                    "ticks": [
                        {
                            "ts": "2024-08-08T23:54:15.342Z",
                            "price": 61837.63,
                            "size": 0.02,
                            "side": "sell",
                            "id": "3735683259",
                        }
                    ],
                },
            ),
            OpenApiExample(
                "columns",
                request_only=True,
                value={
                    "symbol": "BTCUSDT",
                    "ts": [1723161255342000000],
                    "price": [61837.63],
                    "size": [0.02],
                    "side": ["sell"],
                    "id": ["3735683259"],
                },
            ),
        ],
        summary="Store trades (rows or columns; JSON or msgpack)",
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def ingest(self, request, feed_key, payload):
        code, batch = tick_ingest.parse_payload(payload, ZoneInfo(feed_key.timezone))
        symbol, problem = self.resolve_symbol(feed_key, code)
        if problem:
            return problem
        result = tick_ingest.ingest_ticks(symbol, batch)
        return json_response(result.body(symbol.symbol))
