from __future__ import annotations

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from rest_framework_api_key.models import AbstractAPIKey


class Tier(models.TextChoices):
    FREE = "free", "Free"
    ESSENTIAL = "essential", "Essential"
    PLUS = "plus", "Plus"
    PREMIUM = "premium", "Premium"
    PRO = "pro", "Pro"


class EmailUserManager(UserManager):
    """E-mail is the login; the public username defaults to the e-mail's local part."""

    def get_by_natural_key(self, username):
        # Log in by e-mail, case-insensitively (the username stays a unique public handle).
        return self.get(email__iexact=username)

    def _create_user(self, username, email, password, **extra_fields):
        email = self.normalize_email(email).lower()
        username = username or email.split("@")[0]
        return super()._create_user(username, email, password, **extra_fields)

    def create_user(self, email=None, password=None, username=None, **extra_fields):
        return super().create_user(username, email, password, **extra_fields)

    def create_superuser(self, email=None, password=None, username=None, **extra_fields):
        return super().create_superuser(username, email, password, **extra_fields)


class User(AbstractUser):
    """A TradeFlow user: logs in with e-mail, shows a unique public username."""

    email = models.EmailField("email address", unique=True)
    subscription_tier = models.CharField(max_length=16, choices=Tier.choices, default=Tier.FREE)
    preferences = models.JSONField(default=dict, blank=True)

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["username"]

    objects = EmailUserManager()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.username

    @property
    def timezone(self) -> str | None:
        return (self.preferences or {}).get("timezone")


class FeedKey(AbstractAPIKey):
    """An ingestion key (``X-API-Key``), hashed at rest by djangorestframework-api-key.

    A key is bound to a named feed; ``symbols`` optionally limits which symbols it may
    write, ``timezone`` is how Sierra Chart's naive timestamps are read, and
    ``auto_create_symbols`` lets it write unknown symbols (SPEC section 3).
    """

    feed = models.CharField(max_length=100, db_index=True)
    symbols = models.JSONField(
        default=list, blank=True, help_text="Allowed symbols; empty means any symbol."
    )
    timezone = models.CharField(max_length=64, default="UTC")
    auto_create_symbols = models.BooleanField(default=False)

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "feed API key"
        verbose_name_plural = "feed API keys"

    def allows(self, symbol: str) -> bool:
        return not self.symbols or symbol.upper() in {s.upper() for s in self.symbols}
