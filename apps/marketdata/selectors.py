"""Reads of the symbol catalogue."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from apps.marketdata.models import Symbol
from tradeflow.memo import TTLMemo


def symbol_list(*, search: str = "", active_only: bool = True) -> QuerySet[Symbol]:
    qs = Symbol.objects.all()
    if active_only:
        qs = qs.filter(is_active=True)
    if search:
        qs = qs.filter(Q(symbol__icontains=search) | Q(name__icontains=search))
    return qs.order_by("symbol", "exchange")


def symbol_get(code: str) -> Symbol | None:
    """Look a symbol up by ``CODE`` or ``CODE:EXCHANGE`` (when a code is on several exchanges)."""
    code = (code or "").strip().upper()
    if ":" in code:
        sym, _, exchange = code.partition(":")
        return Symbol.objects.filter(symbol=sym, exchange=exchange).first()
    return Symbol.objects.filter(symbol=code).order_by("id").first()


_CACHE_SECONDS = 5.0
_symbol_cache: TTLMemo[str, Symbol | None] = TTLMemo(_CACHE_SECONDS, max_entries=10_000)


def symbol_get_cached(code: str) -> Symbol | None:
    """``symbol_get`` memoised per process for a few seconds: the hot read paths (bars API,
    ingestion) look the same symbols up thousands of times a minute. Admin edits show up
    within ``_CACHE_SECONDS``."""
    return _symbol_cache.get((code or "").strip().upper(), symbol_get)


def forget_cached_symbols() -> None:
    _symbol_cache.clear()
