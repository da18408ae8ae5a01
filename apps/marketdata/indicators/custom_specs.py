"""``CUSTOM_<id>``: user formulas as indicator specs, resolved through a registered hook.

Saved formulas are charts data (``apps.charts.custom_indicators.CustomIndicator``), but the
indicator endpoints and the stream live in marketdata, and marketdata must not import
charts (DESIGN: ``charts -> marketdata``). The charts app therefore registers a resolver
here when its models load; without it ``CUSTOM_<id>`` is reported as unavailable.

The resolver enforces visibility: it returns the formula only when the caller owns it or
it is public, and ``None`` otherwise, so another user's private formula looks exactly like
one that does not exist (404, SPEC section 11).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from apps.marketdata.analytics.indicators import Formula

CUSTOM_SPEC = re.compile(r"\s*custom_(\d{1,18})\s*", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class CustomSpec:
    """A compiled user formula standing in for an ``IndicatorSpec``.

    ``version`` changes whenever the formula text changes, so cached series of an edited
    formula are never served (it is part of the cache key).
    """

    pk: int
    name: str
    formula: Formula
    overlay: bool = False

    @property
    def id(self) -> str:
        return f"CUSTOM_{self.pk}"

    @property
    def version(self) -> str:
        return hashlib.blake2b(self.formula.text.encode(), digest_size=8).hexdigest()

    @property
    def warmup(self) -> int:
        return int(self.formula.warmup_bars)

    @property
    def outputs(self) -> tuple[str, ...]:
        return ("value",)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "formula": self.formula.text}


Resolver = Callable[[int, Any], CustomSpec | None]
_resolver: Resolver | None = None


def register_resolver(resolver: Resolver) -> None:
    """Called once by the charts app; the last registration wins (tests may swap it)."""
    global _resolver
    _resolver = resolver


def custom_id(value: Any) -> int | None:
    """The primary key in ``"CUSTOM_12"`` / ``{"name": "custom_12"}``, else ``None``."""
    if isinstance(value, dict) and set(value) <= {"name", "params"} and not value.get("params"):
        value = value.get("name")
    if isinstance(value, str):
        match = CUSTOM_SPEC.fullmatch(value)
        if match:
            return int(match.group(1))
    return None


def available() -> bool:
    return _resolver is not None


def resolve(pk: int, user) -> CustomSpec | None:
    """The formula if ``user`` may use it; ``None`` if it is missing or private to another."""
    if _resolver is None:
        return None
    return _resolver(pk, user)
