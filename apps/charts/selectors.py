"""Reads for workspaces, saved charts and drawings.

Visibility rule everywhere (SPEC section 11): a private workspace or chart is invisible to
anyone but its owner, so the ``*_visible`` selectors return None and callers answer 404.
Public ones can be read (never written) by any signed-in user.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import Q, QuerySet

from apps.charts.models import Drawing, SavedChart, Workspace
from apps.marketdata.models import Symbol
from apps.marketdata.selectors import symbol_get


def tier_limits(user) -> dict:
    tier = getattr(user, "subscription_tier", None) or "free"
    return settings.TIER_LIMITS.get(tier, settings.TIER_LIMITS["free"])


def symbol_visible(*, user, code: str) -> Symbol | None:
    """The symbol if ``user`` may chart it (same rule as the bars API and the consumer)."""
    symbol = symbol_get(code)
    staff = bool(user and user.is_authenticated and user.is_staff)
    if symbol is None or not (symbol.is_public or staff) or not (symbol.is_active or staff):
        return None
    return symbol


def symbol_first_visible(*, user) -> Symbol | None:
    qs = Symbol.objects.filter(is_active=True)
    if not (user and user.is_authenticated and user.is_staff):
        qs = qs.filter(is_public=True)
    # the simulated demo symbols have live data out of the box: prefer them
    return qs.order_by("-is_simulated", "symbol", "id").first()


def workspace_list(*, user) -> QuerySet[Workspace]:
    return Workspace.objects.filter(owner=user).order_by("-is_default", "name", "id")


def workspace_count(*, user) -> int:
    return Workspace.objects.filter(owner=user).count()


def workspace_get_owned(*, user, pk) -> Workspace | None:
    if not (user and user.is_authenticated):
        return None
    return Workspace.objects.filter(pk=pk, owner=user).first()


def workspace_get_visible(*, user, pk) -> Workspace | None:
    """Own workspaces, and public ones of others (read-only)."""
    visible = Q(is_public=True)
    if user and user.is_authenticated:
        visible |= Q(owner=user)
    return Workspace.objects.filter(visible, pk=pk).select_related("owner").first()


def workspace_default(*, user) -> Workspace | None:
    return Workspace.objects.filter(owner=user).order_by("-is_default", "id").first()


def savedchart_list(*, user) -> QuerySet[SavedChart]:
    return SavedChart.objects.filter(owner=user).order_by("-updated_at", "id")


def savedchart_get_owned(*, user, pk) -> SavedChart | None:
    if not (user and user.is_authenticated):
        return None
    return SavedChart.objects.filter(pk=pk, owner=user).first()


def savedchart_get_visible(*, user, pk) -> SavedChart | None:
    """Own charts, public charts, and charts of public workspaces (read-only)."""
    visible = Q(is_public=True) | Q(workspace__is_public=True)
    if user and user.is_authenticated:
        visible |= Q(owner=user)
    return SavedChart.objects.filter(visible, pk=pk).select_related("workspace").first()


def savedchart_scratch(*, user, symbol: str) -> SavedChart | None:
    return SavedChart.objects.filter(owner=user, scratch_key=symbol).first()


def drawing_list(*, chart: SavedChart, symbol: str | None = None) -> QuerySet[Drawing]:
    qs = Drawing.objects.filter(chart=chart)
    if symbol:
        qs = qs.filter(symbol=symbol.upper())
    return qs.order_by("id")


def drawing_get(*, chart: SavedChart, pk) -> Drawing | None:
    return Drawing.objects.filter(chart=chart, pk=pk).first()
