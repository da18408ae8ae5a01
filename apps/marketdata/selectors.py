"""Reads of the symbol catalogue."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from apps.marketdata.models import Symbol


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
