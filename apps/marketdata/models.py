"""ORM side of market data: the symbol catalogue only.

Time series (ticks, bars, footprint rows) are not ORM models: they live in PostgreSQL and
are reached only through ``apps/marketdata/store/``.
"""

from __future__ import annotations

import math
from datetime import time
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models


class AssetType(models.TextChoices):
    FOREX = "forex", "Forex"
    CRYPTO = "crypto", "Crypto"
    STOCKS = "stocks", "Stocks"
    FUTURES = "futures", "Futures"
    COMMODITIES = "commodities", "Commodities"


def validate_timezone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"unknown time zone {value!r}") from None


class Symbol(models.Model):
    """A tradable instrument (SPEC section 2).

    ``session_start``/``session_end`` are local times in ``timezone``; a session whose end
    is not after its start wraps past midnight (CME 17:00-16:00 America/Chicago). 00:00-00:00
    means a 24-hour session (crypto). Daily and weekly bars and session profiles follow it.
    """

    symbol = models.CharField(max_length=32, db_index=True)
    name = models.CharField(max_length=200, blank=True)
    exchange = models.CharField(max_length=32)
    asset_type = models.CharField(max_length=16, choices=AssetType.choices)
    tick_size = models.DecimalField(
        max_digits=20, decimal_places=10, validators=[MinValueValidator(Decimal("0.0000000001"))]
    )
    price_scale = models.PositiveSmallIntegerField(
        default=0,
        help_text="Decimals shown on the price axis (derived from the tick size when left at 0).",
    )
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    session_start = models.TimeField(default=time(0, 0))
    session_end = models.TimeField(default=time(0, 0))
    is_active = models.BooleanField(default=True)
    is_public = models.BooleanField(
        default=True,
        help_text="Visible to every user (and to anonymous visitors when "
        "TRADEFLOW_ALLOW_ANONYMOUS_MARKET_DATA is on).",
    )
    is_simulated = models.BooleanField(default=False, help_text="Fed by the demo simulator (SIM).")
    # Order-flow defaults (the footprint and profile APIs take per-request overrides).
    footprint_row_ticks = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1)])
    imbalance_ratio = models.FloatField(default=3.0, validators=[MinValueValidator(1.0)])
    imbalance_min_volume = models.FloatField(default=0.0, validators=[MinValueValidator(0.0)])
    stacked_imbalance_rows = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(2)]
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["symbol", "exchange"]
        constraints = [
            models.UniqueConstraint(fields=["symbol", "exchange"], name="uniq_symbol_exchange"),
        ]

    def __str__(self) -> str:
        return f"{self.symbol} ({self.exchange})"

    @property
    def tick(self) -> float:
        return float(self.tick_size)

    @property
    def precision(self) -> int:
        """Decimals needed to show a price in ticks of ``tick_size``."""
        if self.price_scale:
            return int(self.price_scale)
        exponent = Decimal(self.tick_size).normalize().as_tuple().exponent
        return max(0, -int(exponent)) if isinstance(exponent, int) else 2

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def clean(self) -> None:
        if self.tick_size is not None and not math.isfinite(float(self.tick_size)):
            raise ValidationError({"tick_size": "tick size must be finite"})
        self.symbol = (self.symbol or "").strip().upper()
        self.exchange = (self.exchange or "").strip().upper()
