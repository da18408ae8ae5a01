"""Writes for accounts: users and feed keys."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.db import transaction

from apps.accounts.models import FeedKey, User


def user_create(*, email: str, username: str, password: str, tier: str = "free") -> User:
    user = User(
        email=User.objects.normalize_email(email), username=username, subscription_tier=tier
    )
    user.set_password(password)
    user.full_clean()
    user.save()
    return user


def feedkey_create(
    *,
    name: str,
    feed: str | None = None,
    symbols: list[str] | None = None,
    timezone: str = "UTC",
    auto_create_symbols: bool = False,
) -> tuple[FeedKey, str]:
    """Create a feed key and return it with the plaintext key (shown once, never stored)."""
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError({"timezone": f"unknown time zone {timezone!r}"}) from None
    cleaned = sorted({s.strip().upper() for s in symbols or [] if s.strip()})
    with transaction.atomic():
        key, plaintext = FeedKey.objects.create_key(
            name=name,
            feed=feed or name,
            symbols=cleaned,
            timezone=timezone,
            auto_create_symbols=auto_create_symbols,
        )
    return key, plaintext


def feedkey_revoke(*, prefix: str) -> int:
    return FeedKey.objects.filter(prefix=prefix, revoked=False).update(revoked=True)
