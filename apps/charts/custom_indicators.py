"""Custom indicators: a user's saved formula (``ema(close, 20) - sma(close, 50)``).

The model lives in this module (imported at the end of ``apps/charts/models.py``) so the
workspace models in ``models.py`` and this feature can change independently.

A formula is untrusted text: it is only ever compiled by
``apps.marketdata.analytics.indicators.compile_formula`` (``ast`` under a whitelist, no
``eval``; length, depth and time limits), once when saved, to reject it with the
offending position, and again (cached per text) when used.

Saved formulas are usable wherever a spec is accepted as ``CUSTOM_<id>`` (indicator
history/current/batch, the WebSocket stream, alerts): importing this module registers the
resolver with ``apps.marketdata.indicators.custom_specs``, because marketdata must not
import charts. The resolver returns a formula to its owner, or to anyone once it is
public; anyone else gets "not found".
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q

from apps.marketdata.analytics.indicators import compile_formula
from apps.marketdata.analytics.indicators.formula import MAX_LENGTH as FORMULA_MAX_LENGTH
from apps.marketdata.indicators import custom_specs


def new_share_token() -> str:
    return secrets.token_urlsafe(24)  # 32 characters, 192 bits: not guessable


class CustomIndicator(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="custom_indicators"
    )
    name = models.CharField(max_length=100)
    formula = models.TextField(max_length=FORMULA_MAX_LENGTH)
    description = models.TextField(max_length=2000, blank=True)
    overlay = models.BooleanField(
        default=False, help_text="Draw on the price pane (the formula is price-scaled)."
    )
    is_public = models.BooleanField(
        default=False, help_text="Readable by anyone with the share link, usable by anyone."
    )
    share_token = models.CharField(
        max_length=43, unique=True, default=new_share_token, editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "charts"
        ordering = ["-updated_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="uniq_custom_indicator_name"),
        ]

    def __str__(self) -> str:
        return f"{self.name} (CUSTOM_{self.pk})"

    @property
    def spec_id(self) -> str:
        return f"CUSTOM_{self.pk}"


# --- services (writes) -------------------------------------------------------------------


def custom_indicator_create(
    *,
    owner,
    name: str,
    formula: str,
    description: str = "",
    overlay: bool = False,
    is_public: bool = False,
) -> CustomIndicator:
    """Create a formula; raises ``FormulaError`` (with a position) if it does not compile."""
    compile_formula(formula)
    return CustomIndicator.objects.create(
        owner=owner,
        name=name,
        formula=formula,
        description=description,
        overlay=overlay,
        is_public=is_public,
    )


_EDITABLE = ("name", "formula", "description", "overlay", "is_public")


def custom_indicator_update(indicator: CustomIndicator, **changes) -> CustomIndicator:
    unknown = set(changes) - set(_EDITABLE)
    if unknown:
        raise TypeError(f"not editable: {sorted(unknown)}")
    if "formula" in changes:
        compile_formula(changes["formula"])
    for field, value in changes.items():
        setattr(indicator, field, value)
    indicator.save(update_fields=[*changes, "updated_at"])
    return indicator


def custom_indicator_rotate_token(indicator: CustomIndicator) -> CustomIndicator:
    """Invalidate the old share link (the formula stays public if it was)."""
    with transaction.atomic():
        indicator.share_token = new_share_token()
        indicator.save(update_fields=["share_token", "updated_at"])
    return indicator


# --- selectors (reads) -------------------------------------------------------------------


def custom_indicator_list(*, owner) -> models.QuerySet[CustomIndicator]:
    return CustomIndicator.objects.filter(owner=owner)


def custom_indicator_shared(token: str) -> CustomIndicator | None:
    return (
        CustomIndicator.objects.select_related("owner")
        .filter(share_token=token, is_public=True)
        .first()
    )


def custom_indicator_usable(pk: int, user) -> CustomIndicator | None:
    """The formula if ``user`` owns it or it is public."""
    visible = Q(is_public=True)
    if user is not None and user.is_authenticated:
        visible |= Q(owner_id=user.pk)
    return CustomIndicator.objects.filter(visible, pk=pk).first()


def _resolve(pk: int, user) -> custom_specs.CustomSpec | None:
    indicator = custom_indicator_usable(pk, user)
    if indicator is None:
        return None
    return custom_specs.CustomSpec(
        pk=indicator.pk,
        name=indicator.name,
        formula=compile_formula(indicator.formula),
        overlay=indicator.overlay,
    )


custom_specs.register_resolver(_resolve)
